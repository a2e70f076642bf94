package waitfor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	t.Run("done on the third call", func(t *testing.T) {
		n := 0
		err := Poll(context.Background(), time.Millisecond, func(context.Context) (bool, string, error) {
			n++
			return n == 3, "not yet", nil
		})
		if err != nil || n != 3 {
			t.Errorf("Poll = %v after %d calls, want nil after 3", err, n)
		}
	})
	t.Run("an error ends it", func(t *testing.T) {
		boom := errors.New("boom")
		if err := Poll(context.Background(), time.Millisecond, func(context.Context) (bool, string, error) { return false, "", boom }); !errors.Is(err, boom) {
			t.Errorf("Poll = %v, want boom", err)
		}
	})
	t.Run("a timeout names the last reason", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		err := Poll(ctx, time.Millisecond, func(context.Context) (bool, string, error) { return false, "node not Ready", nil })
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "node not Ready: ") {
			t.Errorf("Poll = %v, want the last reason and DeadlineExceeded", err)
		}
	})
}
