package memorystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/redis/go-redis/v9"
)

// crc64Bitwise is the textbook bit-at-a-time form of Redis's CRC64
// (reflected polynomial, initial value 0, no final xor), independent of
// hash/crc64.
func crc64Bitwise(p []byte) uint64 {
	var crc uint64
	for _, b := range p {
		crc ^= uint64(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ crc64Poly
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func TestCRC64KnownVectors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0},
		// The check value of Redis's crc64.c ("Jones" parameters).
		{"123456789", 0xe9c6d914c4b8d9ca},
	} {
		if got := crc64Update(0, []byte(c.in)); got != c.want {
			t.Errorf("crc64(%q) = %016x, want %016x", c.in, got, c.want)
		}
		if got := crc64Bitwise([]byte(c.in)); got != c.want {
			t.Errorf("bitwise crc64(%q) = %016x, want %016x", c.in, got, c.want)
		}
	}
	// Redis's own test: crc64(0, "This is a long string...") in crc64.c.
	long := "This is a sample string for crc64 test..."
	if got, want := crc64Update(0, []byte(long)), crc64Bitwise([]byte(long)); got != want {
		t.Errorf("crc64(long) = %016x, bitwise %016x", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, r.IntN(5000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := crc64Update(0, b), crc64Bitwise(b); got != want {
			t.Fatalf("crc64 of %d random bytes = %016x, bitwise %016x", len(b), got, want)
		}
		// Incremental updates match one pass.
		cut := 0
		if len(b) > 0 {
			cut = r.IntN(len(b))
		}
		if got, want := crc64Update(crc64Update(0, b[:cut]), b[cut:]), crc64Update(0, b); got != want {
			t.Fatalf("incremental crc64 = %016x, want %016x", got, want)
		}
	}
}

func TestCRC64Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		b := make([]byte, r.IntN(20000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		cut := 0
		if len(b) > 0 {
			cut = r.IntN(len(b) + 1)
		}
		a, c := b[:cut], b[cut:]
		if got, want := crc64Combine(crc64Update(0, a), crc64Update(0, c), int64(len(c))), crc64Update(0, b); got != want {
			t.Fatalf("combine at %d of %d = %016x, want %016x", cut, len(b), got, want)
		}
	}
}

func TestCRC64FileParts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 1000, 1 << 20, 3<<20 + 17} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		want := crc64Update(0, b)
		for parts := 1; parts <= 5; parts++ {
			got, err := crc64FileParts(f, int64(n), parts)
			if err != nil || got != want {
				t.Errorf("%d bytes in %d parts: %016x, %v; want %016x", n, parts, got, err, want)
			}
		}
		f.Close()
	}
}

// redisServer starts a throwaway redis-server with its data in dir.
func redisServer(t *testing.T, dir string, extra ...string) *redis.Client {
	t.Helper()
	c, _ := redisProcess(t, dir, extra...)
	return c
}

// redisProcess is redisServer that also returns the process.
func redisProcess(t *testing.T, dir string, extra ...string) (*redis.Client, *process) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	port, err := localproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	cmd.Args = append(cmd.Args, extra...)
	child, err := localproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{Child: child, port: port, dir: dir}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // our unreaped child: fails only once it has exited, which Exited awaits
		<-p.Exited()
	})
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %s", logTail(dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, p
}

// realRDBs has redis-server write snapshots of a few datasets and returns
// them by name.
func realRDBs(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	c := redisServer(t, dir)
	ctx := context.Background()
	out := map[string][]byte{}
	save := func(name string) {
		t.Helper()
		if err := c.Save(ctx).Err(); err != nil {
			t.Fatalf("SAVE: %v", err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	save("empty")
	r := rand.New(rand.NewPCG(7, 8))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	pipe := c.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("s:%d", i), fmt.Sprintf("value-%d", i), 0)
	}
	pipe.Set(ctx, "ttl", "x", time.Hour)
	pipe.Set(ctx, "int", 12345, 0)
	pipe.Set(ctx, "compressible", bytes.Repeat([]byte("abc"), 10000), 0)
	pipe.RPush(ctx, "list", "a", "b", "c")
	pipe.HSet(ctx, "hash", "f1", "v1", "f2", "v2")
	pipe.SAdd(ctx, "set", "x", "y", "z")
	pipe.SAdd(ctx, "intset", 1, 2, 3)
	pipe.ZAdd(ctx, "zset", redis.Z{Score: 1, Member: "one"}, redis.Z{Score: 2, Member: "two"})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: "stream", Values: map[string]any{"k": "v"}})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	save("mixed")
	if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	save("big")
	// rdbchecksum can only be set at start.
	dir = t.TempDir()
	c = redisServer(t, dir, "--rdbchecksum", "no")
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	save("nochecksum")
	return out
}

func writeTemp(t *testing.T, b []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.rdb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// verifyBoth checks b with the file verifier and the streaming one (fed in
// uneven pieces) and fails the test if they disagree.
func verifyBoth(t *testing.T, b []byte, r *rand.Rand) (rdbSummary, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.rdb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return verifyPrefix(t, f, b, len(b), r)
}

// verifyPrefix is verifyBoth for the first n bytes of b, whose whole
// content is in f (the file verifier is told the file has n bytes).
func verifyPrefix(t *testing.T, f *os.File, b []byte, n int, r *rand.Rand) (rdbSummary, error) {
	t.Helper()
	b = b[:n]
	sum, err := verifyRDBFile(f, int64(n), 1+r.IntN(3))
	v := newRDBStreamVerifier()
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(20000))
		if r.IntN(4) == 0 {
			n = min(len(rest), 1+r.IntN(10))
		}
		if _, werr := v.Write(rest[:n]); werr != nil {
			break
		}
		rest = rest[n:]
	}
	ssum, serr := v.Result()
	if (err == nil) != (serr == nil) || (err == nil && sum != ssum) {
		t.Fatalf("%d bytes: file verifier: %+v, %v; stream verifier: %+v, %v", n, sum, err, ssum, serr)
	}
	return sum, err
}

func TestVerifyRealRDBs(t *testing.T) {
	rdbs := realRDBs(t)
	r := rand.New(rand.NewPCG(9, 10))
	for name, b := range rdbs {
		sum, err := verifyBoth(t, b, r)
		if err != nil {
			t.Fatalf("%s (%d bytes) written by redis-server refused: %v", name, len(b), err)
		}
		stored := binary.LittleEndian.Uint64(b[len(b)-8:])
		if sum.Version != 10 || sum.Size != int64(len(b)) || sum.Checksum != stored {
			t.Errorf("%s: summary %+v, stored checksum %016x", name, sum, stored)
		}
		if name == "nochecksum" {
			if stored != 0 {
				t.Errorf("rdbchecksum no wrote checksum %016x", stored)
			}
			continue
		}
		if stored == 0 || crc64Update(0, b[:len(b)-8]) != stored {
			t.Errorf("%s: stored checksum %016x, computed %016x", name, stored, crc64Update(0, b[:len(b)-8]))
		}
	}
}

func TestVerifyRefusesDamagedRDBs(t *testing.T) {
	rdbs := realRDBs(t)
	r := rand.New(rand.NewPCG(11, 12))
	isRDBError := func(err error) bool {
		var e *rdbError
		return errors.As(err, &e)
	}
	for _, name := range []string{"empty", "mixed", "big"} {
		b := rdbs[name]
		// Every truncation near either end, a sample of the others.
		window, samples, flips := 200, 1000, 300
		if len(b) > 1<<20 {
			window, samples, flips = 16, 40, 40
		}
		cuts := []int{}
		for n := range len(b) {
			if n < window || n > len(b)-window || r.IntN(len(b)/samples+1) == 0 {
				cuts = append(cuts, n)
			}
		}
		f := writeTemp(t, b)
		for _, n := range cuts {
			if _, err := verifyPrefix(t, f, b, n, r); !isRDBError(err) {
				t.Fatalf("%s truncated to %d of %d bytes: %v", name, n, len(b), err)
			}
		}
		// One flipped bit anywhere, including in the header, the EOF
		// marker and the checksum.
		positions := []int{0, 5, 8, 9, len(b) / 2, len(b) - 9, len(b) - 8, len(b) - 1}
		for range flips {
			positions = append(positions, r.IntN(len(b)))
		}
		for _, pos := range positions {
			d := bytes.Clone(b)
			d[pos] ^= 1 << r.IntN(8)
			if _, err := verifyBoth(t, d, r); err == nil {
				t.Fatalf("%s with a bit flipped at %d of %d: accepted", name, pos, len(b))
			}
		}
		// Trailing garbage: nonzero bytes, and 1 to 8 zero bytes, which
		// keep the checksum matching (see rdbTailLen).
		if _, err := verifyBoth(t, append(bytes.Clone(b), 1, 2, 3), r); !isRDBError(err) {
			t.Errorf("%s with trailing bytes: %v", name, err)
		}
		for k := 1; k <= 9; k++ {
			if _, err := verifyBoth(t, append(bytes.Clone(b), make([]byte, k)...), r); !isRDBError(err) {
				t.Errorf("%s with %d trailing zero bytes: %v", name, k, err)
			}
		}
	}
	// A truncated snapshot written without a checksum is still caught
	// when it no longer ends with the EOF marker.
	nc := rdbs["nochecksum"]
	if _, err := verifyBoth(t, nc[:len(nc)-20], r); !isRDBError(err) {
		t.Errorf("truncated snapshot without checksum: %v", err)
	}
	// Not an RDB at all, and a newer format.
	for _, g := range [][]byte{nil, []byte("REDIS"), []byte("this is not a redis snapshot"), []byte("REDIS00x0aaaaaaaaaaaaaaaaaa")} {
		if _, err := verifyBoth(t, g, r); !isRDBError(err) {
			t.Errorf("%q: %v", g, err)
		}
	}
	future := append([]byte("REDIS0011"), rdbs["mixed"][9:]...)
	_, err := verifyBoth(t, future, r)
	var tooNew *rdbTooNew
	if !errors.As(err, &tooNew) || tooNew.version != 11 {
		t.Errorf("RDB version 11: %v", err)
	}
}

// A snapshot whose checksum has 0xFF as its third byte, followed by three
// zero bytes: the last 8 bytes then hold the CRC64 of everything before
// them and the byte before them is 0xFF, so the file looked complete.
func TestVerifyRefusesZeroBytesAfterAChecksumEndingLikeAnEOF(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot-then-3-zero-bytes.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	snapshot := b[:len(b)-3]
	if _, err := verifyBoth(t, snapshot, r); err != nil {
		t.Fatalf("the snapshot without its trailing zeros is refused: %v", err)
	}
	_, err = verifyBoth(t, b, r)
	var e *rdbError
	if !errors.As(err, &e) {
		t.Fatalf("a snapshot followed by 3 zero bytes: %v, want it refused", err)
	}
}
