// Package jobs holds the end-to-end jobs of issue 11: each breaks a lab
// sandbox the way production does and runs the built binaries exactly as
// an operator or a CI job would (`nemohermes <name> recover`, `nemoclaw
// <name> connect --probe-only`), against real sshd, real sh, real Linux
// namespaces, the real OpenClaw gateway and a real Chromium. OpenShell is
// the one test double (the lab's `openshell` shim).
//
// Where each job lives (the e2e/cli scenarios already covered some; they
// are not written twice):
//
//	 1 guard-chain wipe                  TestJob01GuardChainWipe
//	 2 crash cycles                      TestJob02CrashCycles
//	 3 pod recreate, OpenClaw and Hermes e2e/cli testdata/recreate.txtar
//	 4 Hermes legacy proxy-env           TestJob04HermesLegacyProxyEnv
//	 5 forward killed, gateway alive     e2e/cli testdata/forward-killed.txtar
//	 6 trusted source removed            e2e/cli testdata/refused.txtar
//	 7 tampered preload, non-root        TestJob07TamperedPreloadRefused
//	 8 non-root, root-owned proxy-env    TestJob08NonRootRootOwnedProxyEnv
//	 9 foreign listener on the port      e2e/cli testdata/foreign.txtar
//	10 sshd restarted under the forward  TestJob10SSHDRestartUnderForward
//	11 two recovers at once; Ctrl-C      TestJob11ConcurrentRecovers; e2e/cli TestInterruptMidRun
//	12 recover --all over ten            TestJob12RecoverAllTen
//	13 the real OpenClaw gateway         TestJob13And14RealOpenClaw/job13
//	14 a real browser on the dashboard   TestJob13And14RealOpenClaw/job14
//	15 the OpenShell path                TestJob15OpenShellPath (beside e2e/cli testdata/openshell.txtar)
//
// The stub-gateway jobs run in parallel. The real-OpenClaw jobs run first
// and alone in this package (not parallel), and hold the machine-wide
// testenv.RealOpenClaw lock so no other package starts a real gateway at
// the same time. `make e2e` runs this package with e2e/cli and e2e/lab;
// `make test` includes them.
package jobs
