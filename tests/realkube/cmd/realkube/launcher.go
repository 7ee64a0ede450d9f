package main

// The launcher: generates the cluster's credentials, starts the storage, then
// kube-apiserver, kube-controller-manager and kube-scheduler as child processes,
// waits until the cluster can take work, prints "serving on https://HOST:PORT", and
// on SIGINT/SIGTERM stops everything in reverse order and removes its temporary data.
//
// "Ready" means: kube-apiserver's /readyz answers ok to the admin; the controller
// manager's and the scheduler's /healthz answer ok; and the service account
// controller has created the "default" ServiceAccount in namespace default (the
// ServiceAccount admission plugin rejects pods until it exists).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Fixed cluster settings (kubeadm's defaults where kubeadm has one).
const (
	serviceCIDR     = "10.96.0.0/12"
	serviceIP       = "10.96.0.1" // first address of serviceCIDR: the "kubernetes" Service
	saIssuer        = "https://kubernetes.default.svc.cluster.local"
	adminUser       = "kubernetes-admin"
	kubeconfigName  = "realkube"
	shutdownGrace   = 20 * time.Second
	pollingInterval = 100 * time.Millisecond
)

type launcherFlags struct {
	bindAddress     string
	securePort      int
	writeKubeconfig string
	tokenAuthFile   string
	clientCAFile    string
	dataDir         string
	logDir          string
	storage         string
	kineBinary      string
	controllers     bool
	startTimeout    time.Duration
	verbose         int
}

func parseFlags(args []string) (*launcherFlags, error) {
	f := &launcherFlags{}
	fs := pflag.NewFlagSet("realkube", pflag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "realkube: a real Kubernetes v1.37 control plane for tests "+
			"(etcd, kube-apiserver, kube-controller-manager, kube-scheduler).\n\nUsage: realkube [flags]\n\n%s", fs.FlagUsages())
	}
	fs.StringVar(&f.bindAddress, "bind-address", "127.0.0.1", "Address kube-apiserver listens on.")
	fs.IntVar(&f.securePort, "secure-port", 6443, "Port kube-apiserver listens on; 0 picks a free port.")
	fs.StringVar(&f.writeKubeconfig, "write-kubeconfig", "", "Write an admin kubeconfig here (client certificate in group system:masters, CA embedded; cluster/context/user \"realkube\").")
	fs.StringVar(&f.tokenAuthFile, "token-auth-file", "", "Static bearer tokens, kube-apiserver CSV format: token,user,uid,\"group1,group2\".")
	fs.StringVar(&f.clientCAFile, "client-ca-file", "", "Extra CA bundle (PEM) trusted for client certificates, besides the generated client CA.")
	fs.StringVar(&f.dataDir, "data-dir", "", "Keep the cluster's data (storage, PKI, logs) here, reused by a later start; default: a temporary folder removed at exit.")
	fs.StringVar(&f.logDir, "log-dir", "", "Write the components' logs here (default DATA/logs).")
	fs.StringVar(&f.storage, "storage", "etcd", "Storage behind kube-apiserver: etcd (embedded) or kine (SQLite, via the realkube-kine program).")
	fs.StringVar(&f.kineBinary, "kine-binary", "", "Path of realkube-kine (default: next to this program).")
	fs.BoolVar(&f.controllers, "controllers", true, "Run kube-controller-manager and kube-scheduler (--controllers=false: kube-apiserver alone).")
	fs.DurationVar(&f.startTimeout, "start-timeout", 3*time.Minute, "Give up if the cluster is not ready within this time.")
	fs.CountVarP(&f.verbose, "verbose", "v", "Copy the components' logs to stderr; repeat (-vv) or give a number (--verbose=4) to raise their klog verbosity (it is the count minus one).")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.securePort < 0 || f.securePort > 65535 {
		return nil, fmt.Errorf("--secure-port %d: out of range", f.securePort)
	}
	if net.ParseIP(f.bindAddress) == nil {
		return nil, fmt.Errorf("--bind-address %q: not an IP address", f.bindAddress)
	}
	if f.storage != "etcd" && f.storage != "kine" {
		return nil, fmt.Errorf("--storage %q: want etcd or kine", f.storage)
	}
	for name, path := range map[string]string{"--token-auth-file": f.tokenAuthFile, "--client-ca-file": f.clientCAFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return f, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "realkube: "+format+"\n", args...)
}

func runLauncher(args []string) int {
	flags, err := parseFlags(args)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		logf("%v", err)
		return 2
	}

	// Signals first: a SIGTERM during start-up still cleans up.
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	dataDir := flags.dataDir
	if dataDir == "" {
		dataDir, err = os.MkdirTemp("", "realkube-")
		if err != nil {
			logf("%v", err)
			return 1
		}
		defer os.RemoveAll(dataDir)
	} else {
		if dataDir, err = filepath.Abs(dataDir); err == nil {
			err = os.MkdirAll(dataDir, 0o700)
		}
		if err != nil {
			logf("--data-dir: %v", err)
			return 1
		}
	}

	c := &cluster{flags: flags, dataDir: dataDir, started: time.Now()}
	defer c.shutdown()
	url, err := c.start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0 // stopped by a signal while starting
		}
		logf("%v", err)
		return 1
	}

	fmt.Fprintf(os.Stdout, "serving on %s\n", url)
	if flags.verbose > 0 {
		logf("ready: data in %s, logs in %s", dataDir, c.logs.dir)
	}

	select {
	case <-ctx.Done():
		return 0
	case err := <-c.failures:
		logf("%v%s", err, c.failureTail(err))
		return 1
	}
}

// cluster is the running control plane.
type cluster struct {
	flags   *launcherFlags
	dataDir string
	logs    *logSink
	started time.Time

	pki         string
	ca          *authority
	clientCA    *authority
	saKey       string
	saPub       string
	host        string
	port        int
	adminClient *http.Client

	store    storage
	children []*child // in start order
	failures chan error
	stopping chan struct{}
}

func (c *cluster) self() (string, error) { return os.Executable() }

func (c *cluster) klogV() string {
	v := c.flags.verbose - 1
	if v < 0 {
		v = 0
	}
	return "--v=" + strconv.Itoa(v)
}

func (c *cluster) start(ctx context.Context) (string, error) {
	c.failures = make(chan error, 8)
	c.stopping = make(chan struct{})
	ctx, cancel := context.WithTimeout(ctx, c.flags.startTimeout)
	defer cancel()

	logDir := c.flags.logDir
	if logDir == "" {
		logDir = filepath.Join(c.dataDir, "logs")
	}
	logs, err := newLogSink(logDir, c.flags.verbose > 0)
	if err != nil {
		return "", fmt.Errorf("--log-dir: %w", err)
	}
	c.logs = logs

	if err := c.makeCredentials(); err != nil {
		return "", fmt.Errorf("generating certificates: %w", err)
	}

	switch c.flags.storage {
	case "etcd":
		e, err := startEtcd(filepath.Join(c.dataDir, "etcd"), c.logs.path("etcd"), c.flags.verbose)
		if err != nil {
			return "", err
		}
		c.store = e
	case "kine":
		k, err := startKine(ctx, c.flags.kineBinary, filepath.Join(c.dataDir, "kine"), c.logs)
		if err != nil {
			return "", err
		}
		c.store = k
	}
	go c.watch(c.store.wait)
	if c.flags.verbose > 0 {
		logf("%s: ok %.1f s after start", c.flags.storage, time.Since(c.started).Seconds())
	}

	if err := c.startAPIServer(); err != nil {
		return "", err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func() bool {
		return c.get(c.adminClient, fmt.Sprintf("https://%s/readyz", c.hostPort())) == http.StatusOK
	}); err != nil {
		return "", err
	}

	if c.flags.controllers {
		cmPort, err := c.startController("kube-controller-manager", c.controllerManagerArgs)
		if err != nil {
			return "", err
		}
		schedPort, err := c.startController("kube-scheduler", c.schedulerArgs)
		if err != nil {
			return "", err
		}
		// Their serving certificates are self-signed: this probe only asks whether they run.
		probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local health probe
		}}
		for name, port := range map[string]int{"kube-controller-manager": cmPort, "kube-scheduler": schedPort} {
			u := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
			if err := c.waitFor(ctx, name+" /healthz", func() bool { return c.get(probe, u) == http.StatusOK }); err != nil {
				return "", err
			}
		}
		sa := fmt.Sprintf("https://%s/api/v1/namespaces/default/serviceaccounts/default", c.hostPort())
		if err := c.waitFor(ctx, "the default ServiceAccount", func() bool {
			return c.get(c.adminClient, sa) == http.StatusOK
		}); err != nil {
			return "", err
		}
	}
	return "https://" + c.hostPort(), nil
}

func (c *cluster) hostPort() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

// watch reports a component that stops by itself.
func (c *cluster) watch(wait func() error) {
	err := wait()
	select {
	case <-c.stopping:
	default:
		c.failures <- err
	}
}

// failureTail shows the end of the log of the component named in err.
func (c *cluster) failureTail(err error) string {
	msg := err.Error()
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kine", "etcd"} {
		if strings.HasPrefix(msg, name) {
			return c.logs.tail(name)
		}
	}
	return ""
}

// waitFor polls ready until it holds, a component fails, or ctx ends.
func (c *cluster) waitFor(ctx context.Context, what string, ready func() bool) error {
	t := time.NewTicker(pollingInterval)
	defer t.Stop()
	for {
		if ready() {
			if c.flags.verbose > 0 {
				logf("%s: ok %.1f s after start", what, time.Since(c.started).Seconds())
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waiting for %s: not ready after %s (see the logs in %s)", what, c.flags.startTimeout, c.logs.dir)
			}
			return ctx.Err()
		case err := <-c.failures:
			return fmt.Errorf("waiting for %s: %w%s", what, err, c.failureTail(err))
		case <-t.C:
		}
	}
}

func (c *cluster) get(client *http.Client, url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// makeCredentials writes the PKI, the kubeconfigs and picks the port.
func (c *cluster) makeCredentials() error {
	c.pki = filepath.Join(c.dataDir, "pki")
	var err error
	if c.ca, err = loadOrCreateCA(c.pki, "ca", "realkube-ca"); err != nil {
		return err
	}
	if c.clientCA, err = loadOrCreateCA(c.pki, "client-ca", "realkube-client-ca"); err != nil {
		return err
	}
	if c.saKey, c.saPub, err = loadOrCreateServiceAccountKey(c.pki); err != nil {
		return err
	}

	bind := net.ParseIP(c.flags.bindAddress)
	c.host = bind.String()
	if bind.IsUnspecified() {
		c.host = "127.0.0.1"
	}
	c.port = c.flags.securePort
	if c.port == 0 {
		if c.port, err = freePort(c.flags.bindAddress); err != nil {
			return err
		}
	}

	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(serviceIP)}
	if !bind.IsUnspecified() && !bind.IsLoopback() {
		ips = append(ips, bind)
	}
	serving, err := c.ca.issueServing("kube-apiserver", []string{
		"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	}, ips)
	if err != nil {
		return err
	}
	if _, _, err := serving.write(c.pki, "apiserver"); err != nil {
		return err
	}

	// kube-apiserver trusts the generated client CA plus --client-ca-file.
	bundle := append([]byte{}, c.clientCA.certPEM...)
	if c.flags.clientCAFile != "" {
		extra, err := os.ReadFile(c.flags.clientCAFile)
		if err != nil {
			return fmt.Errorf("--client-ca-file: %w", err)
		}
		bundle = append(append(bundle, '\n'), extra...)
	}
	if err := writeFile(filepath.Join(c.pki, "client-ca-bundle.crt"), bundle, 0o644); err != nil {
		return err
	}

	// The front proxy (kube-aggregator's requests to extension API servers, and the
	// requestheader CA that the controller manager's and scheduler's delegated
	// authentication read from the extension-apiserver-authentication ConfigMap).
	frontProxyCA, err := loadOrCreateCA(c.pki, "front-proxy-ca", "realkube-front-proxy-ca")
	if err != nil {
		return err
	}
	proxyClient, err := frontProxyCA.issueClient("front-proxy-client")
	if err != nil {
		return err
	}
	if _, _, err := proxyClient.write(c.pki, "front-proxy-client"); err != nil {
		return err
	}

	admin, err := c.clientCA.issueClient(adminUser, "system:masters")
	if err != nil {
		return err
	}
	server := "https://" + c.hostPort()
	adminPath := filepath.Join(c.dataDir, "admin.kubeconfig")
	if err := c.writeKubeconfig(adminPath, server, admin); err != nil {
		return err
	}
	if c.flags.writeKubeconfig != "" {
		if err := c.writeKubeconfig(c.flags.writeKubeconfig, server, admin); err != nil {
			return fmt.Errorf("--write-kubeconfig: %w", err)
		}
	}
	for _, who := range []struct{ user, file string }{
		{"system:kube-controller-manager", "controller-manager.kubeconfig"},
		{"system:kube-scheduler", "scheduler.kubeconfig"},
	} {
		cert, err := c.clientCA.issueClient(who.user)
		if err != nil {
			return err
		}
		if err := c.writeKubeconfig(filepath.Join(c.dataDir, who.file), server, cert); err != nil {
			return err
		}
	}

	pair, err := tls.X509KeyPair(admin.certPEM, admin.keyPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.ca.cert)
	c.adminClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}},
	}}
	return nil
}

func (c *cluster) writeKubeconfig(path, server string, cred *leaf) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.ca.certPEM}
	cfg.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{ClientCertificateData: cred.certPEM, ClientKeyData: cred.keyPEM}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{Cluster: kubeconfigName, AuthInfo: kubeconfigName, Namespace: "default"}
	cfg.CurrentContext = kubeconfigName
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return clientcmd.WriteToFile(*cfg, path)
}

func (c *cluster) startAPIServer() error {
	self, err := c.self()
	if err != nil {
		return err
	}
	args := []string{
		"kube-apiserver",
		"--bind-address=" + c.flags.bindAddress,
		"--advertise-address=" + c.host,
		"--secure-port=" + strconv.Itoa(c.port),
		"--etcd-servers=" + c.store.endpoint(),
		"--tls-cert-file=" + filepath.Join(c.pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(c.pki, "apiserver.key"),
		"--cert-dir=" + filepath.Join(c.dataDir, "kube-apiserver"),
		"--client-ca-file=" + filepath.Join(c.pki, "client-ca-bundle.crt"),
		"--requestheader-client-ca-file=" + filepath.Join(c.pki, "front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + filepath.Join(c.pki, "front-proxy-client.crt"),
		"--proxy-client-key-file=" + filepath.Join(c.pki, "front-proxy-client.key"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + c.saPub,
		"--service-account-signing-key-file=" + c.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		// The "kubernetes" Service's endpoints would name the advertise address, and
		// Endpoints may not hold a loopback address: leave them out.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		c.klogV(),
	}
	if c.flags.tokenAuthFile != "" {
		path, err := filepath.Abs(c.flags.tokenAuthFile)
		if err != nil {
			return err
		}
		args = append(args, "--token-auth-file="+path)
	}
	ch, err := startChild("kube-apiserver", self, args, nil, c.logs)
	if err != nil {
		return err
	}
	c.children = append(c.children, ch)
	go c.watch(func() error { <-ch.done; return ch.err })
	return nil
}

// startController starts kube-controller-manager or kube-scheduler on a free port
// and returns that port.
func (c *cluster) startController(name string, argsFor func(port int) []string) (int, error) {
	self, err := c.self()
	if err != nil {
		return 0, err
	}
	port, err := freePort("127.0.0.1")
	if err != nil {
		return 0, err
	}
	ch, err := startChild(name, self, append([]string{name}, argsFor(port)...), nil, c.logs)
	if err != nil {
		return 0, err
	}
	c.children = append(c.children, ch)
	go c.watch(func() error { <-ch.done; return ch.err })
	return port, nil
}

func (c *cluster) controllerManagerArgs(port int) []string {
	kc := filepath.Join(c.dataDir, "controller-manager.kubeconfig")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dataDir, "kube-controller-manager"),
		"--leader-elect=false",
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.saKey,
		"--root-ca-file=" + filepath.Join(c.pki, "ca.crt"),
		"--cluster-signing-cert-file=" + filepath.Join(c.pki, "client-ca.crt"),
		"--cluster-signing-key-file=" + filepath.Join(c.pki, "client-ca.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		c.klogV(),
	}
}

func (c *cluster) schedulerArgs(port int) []string {
	kc := filepath.Join(c.dataDir, "scheduler.kubeconfig")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dataDir, "kube-scheduler"),
		"--leader-elect=false",
		c.klogV(),
	}
}

// shutdown stops the components in reverse order, then the storage.
func (c *cluster) shutdown() {
	if c.stopping != nil {
		select {
		case <-c.stopping:
			return
		default:
			close(c.stopping)
		}
	}
	// The controllers first (together), then kube-apiserver.
	var controllers []*child
	var apiserver *child
	for _, ch := range c.children {
		if ch.name == "kube-apiserver" {
			apiserver = ch
		} else {
			controllers = append(controllers, ch)
		}
	}
	done := make(chan struct{})
	for _, ch := range controllers {
		go func(ch *child) { ch.stop(shutdownGrace); done <- struct{}{} }(ch)
	}
	for range controllers {
		<-done
	}
	if apiserver != nil {
		apiserver.stop(shutdownGrace)
	}
	if c.store != nil {
		c.store.stop()
	}
	if c.logs != nil {
		c.logs.close()
	}
}
