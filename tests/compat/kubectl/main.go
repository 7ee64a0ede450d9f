// Command kubectl is the newest kubectl for the compatibility suite, built from the
// k8s.io/kubectl module at the version pinned in go.mod, for machines whose image has
// no Google Cloud CLI kubectl. tests/compat/setup.sh builds it (see build.sh).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
		os.Exit(1)
	}
}
