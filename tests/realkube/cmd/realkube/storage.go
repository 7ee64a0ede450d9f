package main

// The storage behind kube-apiserver, started before it and stopped after it.
//
//   - etcd (default): go.etcd.io/etcd/server/v3/embed, at the version k8s.io/kubernetes
//     v1.37.2 pins, running inside the launcher process, serving plain gRPC on loopback
//     only. Its data lives in DATA/etcd; fsync is off (a test cluster: a crash may lose
//     the last writes, which a test never relies on).
//   - kine: kine's SQLite backend (DATA/kine/state.db) behind an etcd-compatible gRPC
//     endpoint, run as the child program realkube-kine, built from its own module
//     (../kine): kine v0.17.x requires newer grpc, otel and etcd modules than
//     k8s.io/kubernetes v1.37.2 pins, and linking it here would move the apiserver
//     off the dependency versions Kubernetes released it with.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// storage is a running etcd-compatible endpoint.
type storage interface {
	// endpoint is what kube-apiserver's --etcd-servers takes.
	endpoint() string
	// wait blocks until the storage stops by itself and says why.
	wait() error
	stop()
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type embeddedEtcd struct {
	etcd *embed.Etcd
	url  string
}

func startEtcd(dataDir, logFile string, verbose int) (*embeddedEtcd, error) {
	clientPort, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	// The member's peer URL is part of its stored identity: keep it across restarts
	// of the same --data-dir.
	peerFile := filepath.Join(filepath.Dir(dataDir), "etcd-peer-url")
	peerURL := url.URL{}
	if data, err := os.ReadFile(peerFile); err == nil {
		u, err := url.Parse(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", peerFile, err)
		}
		peerURL = *u
	} else {
		peerPort, err := freePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		peerURL = url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
		if err := writeFile(peerFile, []byte(peerURL.String()+"\n"), 0o600); err != nil {
			return nil, err
		}
	}

	cfg := embed.NewConfig()
	cfg.Name = "realkube"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// A restarted member (same --data-dir) keeps its cluster.
	if _, err := os.Stat(filepath.Join(dataDir, "member")); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.UnsafeNoFsync = true
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	if verbose > 0 {
		cfg.LogLevel = "info"
	}
	cfg.LogOutputs = []string{logFile}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcd: not ready after 60 s")
	}
	return &embeddedEtcd{etcd: e, url: clientURL.String()}, nil
}

func (e *embeddedEtcd) endpoint() string { return e.url }
func (e *embeddedEtcd) wait() error {
	select {
	case err, ok := <-e.etcd.Err():
		if ok && err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
	case <-e.etcd.Server.StopNotify():
	}
	return errors.New("etcd stopped")
}
func (e *embeddedEtcd) stop() { e.etcd.Close() }

// kineProcess is the realkube-kine child.
type kineProcess struct {
	proc *child
	url  string
}

func startKine(ctx context.Context, binary, dataDir string, logs *logSink) (*kineProcess, error) {
	if binary == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		binary = filepath.Join(filepath.Dir(self), "realkube-kine")
	}
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("--storage=kine needs the realkube-kine program (build it with tests/realkube/build.sh --with-kine, or pass --kine-binary): %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	c, err := startChild("kine", binary, []string{
		"--endpoint", "sqlite://" + filepath.Join(dataDir, "state.db") + "?_journal_mode=WAL&_busy_timeout=30000&_synchronous=OFF&_txlock=immediate&cache=shared",
		"--listen-address", "127.0.0.1:0",
	}, pw, logs)
	if err != nil {
		return nil, err
	}
	// realkube-kine prints one line, "listening on URL", when its endpoint is up.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- u
			}
		}
	}()
	select {
	case u := <-lines:
		return &kineProcess{proc: c, url: u}, nil
	case <-c.done:
		return nil, fmt.Errorf("kine exited before it was ready (%v)%s", c.err, logs.tail("kine"))
	case <-time.After(60 * time.Second):
		c.stop(5 * time.Second)
		return nil, errors.New("kine: not ready after 60 s" + logs.tail("kine"))
	case <-ctx.Done():
		c.stop(5 * time.Second)
		return nil, ctx.Err()
	}
}

func (k *kineProcess) endpoint() string { return k.url }
func (k *kineProcess) wait() error      { <-k.proc.done; return k.proc.err }
func (k *kineProcess) stop()            { k.proc.stop(10 * time.Second) }
