package sandboxexec

// SSHTarget names an SSH sandbox the way an operator does: an OpenSSH client
// config file and a Host alias inside it. Everything else (address, user,
// keys, known_hosts, proxy, timeouts) is read from the config.
type SSHTarget struct {
	ConfigFile string
	Host       string
}
