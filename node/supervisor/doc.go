// Package supervisor starts and supervises the child processes of
// skiff-node, the agent that runs as PID 1 inside a skiff node container.
//
// All child processes of the agent must be started through a single
// [Reaper]: it owns every wait(2) call in the process, so that orphaned
// grandchildren reparented to PID 1 are reaped without stealing the exit
// status of the children the agent itself supervises. Code in the agent must
// therefore never call exec.Cmd.Wait, exec.Cmd.Run, exec.Cmd.Output or
// os.Process.Wait; use [Reaper.Start] or [Reaper.Output] instead.
//
// A [Process] is a long-running component (containerd, etcd, the Kubernetes
// control plane, kubelet, kube-proxy) that is restarted with exponential
// backoff whenever it exits, until it is stopped.
package supervisor
