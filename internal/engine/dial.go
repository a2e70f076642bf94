package engine

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/docker/docker/client"
)

// Dial runs cmd in the running container id with Run (o's bounds apply;
// Stdin and Stdout are the connection's) and returns the command's standard
// input and output as a connection: a client in the container, such as
// socat to a Unix socket, becomes a stream on the host, whatever the host
// (Docker Desktop's VM included). Closing it ends the command's input, so
// the command exits. Deadlines are ignored: ctx and o bound it instead.
func Dial(ctx context.Context, c client.APIClient, id string, cmd []string, o ExecOptions) net.Conn {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	o.Stdin, o.Stdout = inR, outW
	go func() {
		err := Run(ctx, c, id, cmd, o)
		outW.CloseWithError(err) // nil: the reader sees EOF
		inR.CloseWithError(err)
	}()
	return &pipeConn{r: outR, w: inW}
}

// pipeConn is a net.Conn over the pipes to and from a command.
type pipeConn struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }

func (p *pipeConn) Close() error {
	p.w.Close()
	return p.r.Close()
}

func (p *pipeConn) LocalAddr() net.Addr              { return execAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr             { return execAddr{} }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

type execAddr struct{}

func (execAddr) Network() string { return "exec" }
func (execAddr) String() string  { return "exec" }
