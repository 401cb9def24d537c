package localproc

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// dialEnv makes the test binary, run again as a child, connect to the
// address it names and hold the connection until its stdin closes.
const dialEnv = "LOCALPROC_TEST_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(dialEnv); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			os.Exit(2)
		}
		_, _ = io.Copy(io.Discard, os.Stdin) // any end of stdin, clean or not, is the signal to hang up
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPeerEnvFindsTheConnectingProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+l.Addr().String(), "PEER_MARK=child-42")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("dialing child: %v", err)
		}
	}()
	tl, ok := l.(*net.TCPListener)
	if !ok {
		t.Fatalf("listener is a %T, want *net.TCPListener", l)
	}
	if err := tl.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pid, env, err := PeerEnv(conn)
	if err != nil {
		t.Fatalf("PeerEnv: %v", err)
	}
	if pid != cmd.Process.Pid || env["PEER_MARK"] != "child-42" {
		t.Fatalf("PeerEnv = pid %d, PEER_MARK %q; want pid %d, child-42", pid, env["PEER_MARK"], cmd.Process.Pid)
	}
	if pid, _, err := PeerEnvWith(conn, "PEER_MARK"); err != nil || pid != cmd.Process.Pid {
		t.Fatalf("PeerEnvWith(PEER_MARK) = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	if _, _, err := PeerEnvWith(conn, "NO_PROCESS_HAS_THIS"); !errors.Is(err, ErrPeerNotFound) {
		t.Fatalf("PeerEnvWith(a key nobody has) = %v; want ErrPeerNotFound", err)
	}
	// The kernel's exact lookup and /proc/net/tcp agree.
	local, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	remote, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		t.Fatalf("connection addresses %T, %T; want *net.TCPAddr", conn.RemoteAddr(), conn.LocalAddr())
	}
	a, err1 := diagInode(local, remote)
	b, err2 := socketInode(local, remote)
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("sock_diag inode %d (%v), /proc/net/tcp inode %d (%v)", a, err1, b, err2)
	}
}

func TestPeerEnvOfOwnConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pid, _, err := PeerEnv(conn)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("PeerEnv = %d, %v; want this process %d", pid, err, os.Getpid())
	}
}
