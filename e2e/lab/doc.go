// Package lab builds real local sandboxes on this machine, shaped like
// OpenShell ones from the host's point of view, for the demo and for every
// end-to-end test (SPEC §9). A sandbox is a set of Linux namespaces (mount,
// PID, network, UTS, IPC) whose PID 1 is a small bash init; inside run
// Debian's OpenSSH sshd on 127.0.0.1:22, a stand-in for
// https://inference.local, and a gateway started by an entrypoint that writes
// the guard chain into a private /tmp the way a real image does. The sandbox
// is registered in $HOME/.nemoclaw/sandboxes.json with an OpenSSH client
// config whose ProxyCommand (`nemoclaw-lab proxy <name>`) enters the
// sandbox's network namespace, and a pinned known_hosts.
//
// The lab must leave the host untouched: account files are bind-mounted
// copies, /usr/local content lives in overlays over tmpfs, /tmp, /run,
// /var/log, /var/tmp and /dev/shm are private tmpfs mounts, and everything it
// starts dies with PID 1. The only host-side traces are the state directory
// (root, 0700), the registry entry, and the empty /sandbox mount point.
//
// Who reaps what: the launcher (Up, in whatever process calls it) starts
// `unshare --fork --kill-child` in its own session and keeps it as a child,
// waiting for it in a goroutine. The nemoclaw-lab command exits right after
// `up`, so its unshare is re-parented to the host's init (or the nearest
// subreaper), which reaps it when the sandbox ends; an exited unshare is
// harmless. Killing unshare kills the sandbox too (--kill-child).
package lab
