// Command realkube runs a real Kubernetes control plane, built from the
// k8s.io/kubernetes module, for testing ferrokube against the reference
// implementation: etcd (embedded, or kine over SQLite), kube-apiserver,
// kube-controller-manager and kube-scheduler. It is a test tool, never shipped.
//
// Its command line matches ferrokube-apiserver's:
//
//	realkube --secure-port 0 --write-kubeconfig PATH [--token-auth-file F]
//	         [--client-ca-file F] [--data-dir D] [--storage etcd|kine] [-v]
//
// and it prints exactly one line on stdout, "serving on https://HOST:PORT", once the
// cluster is ready. One binary holds all components: run with no component name it
// is the launcher (launcher.go); the launcher runs each component as a child process
// of the same binary, "realkube kube-apiserver FLAGS..." and so on, because each
// component owns process-wide state (its signal handler, which may be set up only
// once per process, global feature gates, the legacy metrics registry, klog's flags).
package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as in the upstream main packages
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// components maps the hidden first argument to the upstream command it runs.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler": func() *cobra.Command {
		return scheduler.NewSchedulerCommand()
	},
}

func main() {
	if len(os.Args) > 1 {
		if newCommand, ok := components[os.Args[1]]; ok {
			cmd := newCommand()
			cmd.SetArgs(os.Args[2:])
			os.Exit(cli.Run(cmd))
		}
	}
	os.Exit(runLauncher(os.Args[1:]))
}
