// Command realkube-kine serves kine's SQLite backend behind an etcd-compatible gRPC
// endpoint on loopback, for `realkube --storage=kine`, which starts it as a child
// process. It is a test tool, never shipped.
//
//	realkube-kine --endpoint sqlite:///path/state.db?PARAMS --listen-address 127.0.0.1:0
//
// Prints exactly one line on stdout, "listening on http://HOST:PORT", once the
// endpoint accepts connections; kine's own logs go to stderr. SIGINT/SIGTERM stop it.
//
// It lives in its own module because kine v0.17.x requires newer grpc, otel and etcd
// modules than k8s.io/kubernetes v1.37.2 pins: built into realkube, Go's minimal
// version selection would move kube-apiserver off the versions it was released with.
// Only the SQLite driver is linked (kine's endpoint package pulls in every driver).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/k3s-io/kine/pkg/drivers"
	"github.com/k3s-io/kine/pkg/drivers/generic"
	_ "github.com/k3s-io/kine/pkg/drivers/sqlite" // registers the sqlite:// scheme
	"github.com/k3s-io/kine/pkg/server"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func main() {
	endpoint := flag.String("endpoint", "", "kine datastore, sqlite://PATH[?PARAMS]")
	listen := flag.String("listen-address", "127.0.0.1:0", "TCP address of the etcd-compatible endpoint (loopback)")
	emulated := flag.String("emulated-etcd-version", "3.6.11", "etcd version reported by the status call (kine's default)")
	verbose := flag.Bool("v", false, "log at info level (default: warnings)")
	flag.Parse()
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)
	if *verbose {
		logrus.SetLevel(logrus.InfoLevel)
	}
	if err := run(*endpoint, *listen, *emulated); err != nil {
		fmt.Fprintf(os.Stderr, "realkube-kine: %v\n", err)
		os.Exit(1)
	}
}

func run(endpoint, listen, emulated string) error {
	if !strings.HasPrefix(endpoint, "sqlite://") {
		return errors.New("--endpoint must be sqlite://PATH[?PARAMS]")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen-address: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen-address %q: only loopback addresses", listen)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	backendCtx, cancelBackend := context.WithCancel(context.Background())
	defer cancelBackend()
	var wg sync.WaitGroup

	// kine's own defaults (those of its command line).
	_, backend, err := drivers.New(backendCtx, &wg, &drivers.Config{
		Endpoint:             endpoint,
		ConnectionPoolConfig: generic.ConnectionPoolConfig{MaxIdle: 20, MaxIdleTime: 2 * time.Minute},
		CompactInterval:      5 * time.Minute,
		CompactTimeout:       5 * time.Second,
		CompactMinRetain:     1000,
		CompactBatchSize:     1000,
		PollBatchSize:        500,
		PollInterval:         time.Second,
	})
	if err != nil {
		return fmt.Errorf("opening the datastore: %w", err)
	}
	if err := backend.Start(backendCtx); err != nil {
		return fmt.Errorf("starting the datastore: %w", err)
	}

	grpcServer := grpc.NewServer(
		grpc.MaxRecvMsgSize(2*1024*1024),
		grpc.MaxSendMsgSize(math.MaxInt32),
	)
	server.New(backend, "http", 5*time.Second, emulated).Register(grpcServer)

	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- grpcServer.Serve(lis) }()
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", lis.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-served:
		cancelBackend()
		return fmt.Errorf("gRPC server: %w", err)
	}
	timer := time.AfterFunc(2*time.Second, grpcServer.Stop)
	grpcServer.GracefulStop()
	timer.Stop()
	cancelBackend()
	wg.Wait()
	return nil
}
