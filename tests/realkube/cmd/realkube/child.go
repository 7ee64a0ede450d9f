package main

// Child processes and where their logs go. Each Kubernetes component runs as a child
// of the launcher: the same binary re-executed with the component's name as its first
// argument (see main.go), in its own process group so that a terminal's Ctrl-C
// reaches only the launcher, which then stops the children in order. A child gets
// SIGKILL if the launcher dies without stopping it (Linux parent-death signal).
//
// By default each child's output goes to LOGDIR/NAME.log and only a failing child's
// last lines are shown (on stderr); with -v the output is copied to stderr as well.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logSink hands out the writers the components log to.
type logSink struct {
	dir     string
	verbose bool
	mu      sync.Mutex
	files   []*os.File
}

func newLogSink(dir string, verbose bool) (*logSink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &logSink{dir: dir, verbose: verbose}, nil
}

func (s *logSink) path(name string) string { return filepath.Join(s.dir, name+".log") }

// writer opens LOGDIR/NAME.log for appending (and stderr too with -v).
func (s *logSink) writer(name string) (io.Writer, error) {
	f, err := os.OpenFile(s.path(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.mu.Unlock()
	if s.verbose {
		return io.MultiWriter(f, &prefixWriter{prefix: "[" + name + "] ", out: os.Stderr}), nil
	}
	return f, nil
}

// tail returns the last lines of NAME's log, formatted to follow an error message.
func (s *logSink) tail(name string) string {
	data, err := os.ReadFile(s.path(name))
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s\n---", s.path(name), strings.Join(lines, "\n"))
}

func (s *logSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// prefixWriter prefixes each line with the component's name.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	out    io.Writer
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(w.prefix), w.buf[:i+1]...)
		w.buf = w.buf[i+1:]
		if _, err := w.out.Write(line); err != nil {
			return len(p), nil
		}
	}
	return len(p), nil
}

// child is one running component.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // why it exited, set before done is closed
}

// startChild runs BINARY ARGS as the component NAME. Its stderr goes to the log sink;
// its stdout to stdout when not nil, else to the log sink too.
func startChild(name, binary string, args []string, stdout io.Writer, logs *logSink) (*child, error) {
	logw, err := logs.writer(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdin = nil
	cmd.Stderr = logw
	cmd.Stdout = logw
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = fmt.Errorf("%s exited", name)
		} else {
			err = fmt.Errorf("%s: %w", name, err)
		}
		c.err = err
		close(c.done)
		if closer, ok := stdout.(io.Closer); ok && stdout != nil {
			closer.Close()
		}
	}()
	return c, nil
}

// stop sends SIGTERM, waits up to grace for the child to exit, then kills it.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
