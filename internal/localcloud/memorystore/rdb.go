package memorystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"strconv"
	"sync"
)

// An RDB snapshot is "REDIS" and a 4-digit format version, the dataset, the
// EOF opcode 0xFF and, from format version 5 on, the CRC64 of everything
// before the checksum as 8 little-endian bytes (all zero when redis-server
// was told not to compute it: rdbchecksum no).

const (
	rdbHeaderLen   = 9
	rdbOpcodeEOF   = 0xFF
	rdbChecksumLen = 8
	// rdbFirstChecksumVersion is the first format with a trailing checksum.
	rdbFirstChecksumVersion = 5
)

// crc64Poly is Redis's CRC64 polynomial ("Jones", 0xad93d23594c935a9) in
// the reflected form hash/crc64 takes.
const crc64Poly = 0x95AC9329AC4BC9B5

var crc64Table = crc64.MakeTable(crc64Poly)

// crc64Update extends the Redis CRC64 state crc (initial value 0, no final
// xor) with p. hash/crc64 inverts the state on the way in and out, so the
// inversions are undone here.
func crc64Update(crc uint64, p []byte) uint64 {
	return ^crc64.Update(^crc, crc64Table, p)
}

// crc64MulModP multiplies a and b modulo the polynomial (reflected bit
// order: the most significant bit is x^0).
func crc64MulModP(a, b uint64) uint64 {
	var p uint64
	for m := uint64(1) << 63; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc64Poly
		} else {
			b >>= 1
		}
	}
	return p
}

// crc64ShiftBytes returns x^(8n) modulo the polynomial.
func crc64ShiftBytes(n int64) uint64 {
	p := uint64(1) << 63  // x^0
	sq := uint64(1) << 62 // x^1
	for bits := uint64(n) * 8; bits != 0; bits >>= 1 {
		if bits&1 != 0 {
			p = crc64MulModP(p, sq)
		}
		sq = crc64MulModP(sq, sq)
	}
	return p
}

// crc64Combine returns the CRC64 of A followed by B from crcA, crcB (the
// CRC64 of B alone) and the length of B. The CRC has no initial value or
// final xor, so it is linear: crc(A||B) = crcA·x^(8·lenB) + crcB.
func crc64Combine(crcA, crcB uint64, lenB int64) uint64 {
	return crc64MulModP(crcA, crc64ShiftBytes(lenB)) ^ crcB
}

// rdbError says why a file is not a loadable RDB snapshot.
type rdbError struct{ msg string }

func (e *rdbError) Error() string { return e.msg }

func rdbErrorf(format string, args ...any) error {
	return &rdbError{fmt.Sprintf(format, args...)}
}

// rdbTooNew is returned for a well-formed header of a format newer than
// maxRDBVersion.
type rdbTooNew struct{ version int }

func (e *rdbTooNew) Error() string {
	return fmt.Sprintf("RDB format version %d is newer than the supported %d", e.version, maxRDBVersion)
}

// rdbVersion checks the RDB header ("REDIS" + 4 digits) and returns the
// format version.
func rdbVersion(hdr []byte) (int, error) {
	if len(hdr) < rdbHeaderLen {
		return 0, rdbErrorf("too short for an RDB header")
	}
	if string(hdr[:5]) != "REDIS" {
		return 0, rdbErrorf("no REDIS magic at the start")
	}
	for _, c := range hdr[5:rdbHeaderLen] {
		if c < '0' || c > '9' {
			return 0, rdbErrorf("RDB version %q is not a number", hdr[5:rdbHeaderLen])
		}
	}
	v, _ := strconv.Atoi(string(hdr[5:rdbHeaderLen]))
	if v < 1 {
		return 0, rdbErrorf("RDB version %d does not exist", v)
	}
	return v, nil
}

// rdbSummary is what verifying an RDB snapshot found.
type rdbSummary struct {
	Version int
	Size    int64
	// Checksum is the stored CRC64; zero when the snapshot was written
	// without one (rdbchecksum no, or a format before version 5), in which
	// case only its framing was checked.
	Checksum uint64
}

// rdbTailLen is how many of the last bytes the trailer check reads: the EOF
// opcode and checksum, and those of a snapshot up to 8 bytes shorter.
//
// A complete snapshot followed by k zero bytes (k from 1 to 8) passes the
// checksum test: the CRC has no initial value or final xor, so the CRC of
// the content and the first k checksum bytes is the checksum shifted by k
// bytes, which is what the last 8 bytes then read as. Only the EOF opcode
// is left to tell, and it does not when the checksum byte before the zeros
// is 0xFF (one snapshot in 256). So a file ending in zero bytes is also
// checked as the shorter file without them: if that one is a complete
// snapshot, the zeros are trailing bytes.
const rdbTailLen = 2*rdbChecksumLen + 1

// checkTrailer checks the end of a snapshot of the given version and size:
// the EOF opcode and, when there is one, the stored checksum against the
// computed one (the CRC64 of all bytes before the checksum). tail is the
// last min(size, rdbTailLen) bytes and crcBefore the CRC64 of the bytes
// before them; crcBefore is only used when trailerNeedsCRC says so.
func checkTrailer(version int, size int64, tail []byte, crcBefore uint64) (rdbSummary, error) {
	s := rdbSummary{Version: version, Size: size}
	if version < rdbFirstChecksumVersion {
		if size < rdbHeaderLen+1 || tail[len(tail)-1] != rdbOpcodeEOF {
			return s, rdbErrorf("truncated: the snapshot (%d bytes) does not end with the EOF marker", size)
		}
		return s, nil
	}
	if size < rdbHeaderLen+1+rdbChecksumLen {
		return s, rdbErrorf("truncated: %d bytes is too short for an RDB version %d snapshot", size, version)
	}
	// crcUpTo is the CRC64 of the file up to tail[i].
	crcUpTo := func(i int) uint64 { return crc64Update(crcBefore, tail[:i]) }
	body := len(tail) - rdbChecksumLen
	stored := binary.LittleEndian.Uint64(tail[body:])
	s.Checksum = stored
	if stored != 0 && stored != crcUpTo(body) {
		return s, rdbErrorf("checksum mismatch: the snapshot (%d bytes) says CRC64 %016x, its content has %016x (truncated or corrupted)", size, stored, crcUpTo(body))
	}
	if tail[body-1] != rdbOpcodeEOF {
		return s, rdbErrorf("truncated: the snapshot (%d bytes) does not end with the EOF marker and a checksum", size)
	}
	for _, k := range shorterSnapshotEnds(size, tail) {
		end := len(tail) - k
		if binary.LittleEndian.Uint64(tail[end-rdbChecksumLen:end]) == crcUpTo(end-rdbChecksumLen) {
			return s, rdbErrorf("trailing bytes: the snapshot ends %d bytes before the end of the file (%d bytes), followed by %d zero bytes", k, size, k)
		}
	}
	return s, nil
}

// shorterSnapshotEnds returns each k (1 to 8) such that the file without its
// last k bytes, all zero, is framed as a checksummed snapshot: an EOF opcode
// then a nonzero checksum. Whether that checksum matches is up to the caller.
func shorterSnapshotEnds(size int64, tail []byte) []int {
	var ks []int
	for k := 1; k <= rdbChecksumLen && k <= len(tail) && tail[len(tail)-k] == 0; k++ {
		end := len(tail) - k
		if size-int64(k) < rdbHeaderLen+1+rdbChecksumLen || end < rdbChecksumLen+1 {
			break
		}
		if tail[end-rdbChecksumLen-1] == rdbOpcodeEOF && binary.LittleEndian.Uint64(tail[end-rdbChecksumLen:end]) != 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// trailerNeedsCRC says whether checkTrailer needs the CRC64 of the content:
// a stored checksum to compare, or a shorter snapshot to rule out.
func trailerNeedsCRC(version int, size int64, tail []byte) bool {
	if version < rdbFirstChecksumVersion || size < rdbHeaderLen+1+rdbChecksumLen {
		return false
	}
	return binary.LittleEndian.Uint64(tail[len(tail)-rdbChecksumLen:]) != 0 || len(shorterSnapshotEnds(size, tail)) > 0
}

// verifyRDBFile checks that the file is a complete, uncorrupted RDB
// snapshot in a format this Redis loads: header, EOF marker and CRC64. The
// checksum of a large file is computed over up to cpus parts of it at once
// and combined. A snapshot of a newer format is reported as *rdbTooNew, any
// other problem as *rdbError; I/O errors as they are.
func verifyRDBFile(f *os.File, size int64, cpus int) (rdbSummary, error) {
	version, err := rdbFileHeader(f, size)
	if err != nil {
		return rdbSummary{Version: version, Size: size}, err
	}
	tail := make([]byte, min(size, rdbTailLen))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return rdbSummary{}, err
	}
	var crc uint64
	if trailerNeedsCRC(version, size, tail) {
		if crc, err = crc64File(f, size-int64(len(tail)), cpus); err != nil {
			return rdbSummary{}, err
		}
	}
	return checkTrailer(version, size, tail, crc)
}

// rdbFileHeader checks the header of an RDB file of the given size and
// returns its format version; a format newer than maxRDBVersion is an
// *rdbTooNew error.
func rdbFileHeader(f *os.File, size int64) (int, error) {
	var hdr [rdbHeaderLen]byte
	n, err := f.ReadAt(hdr[:min(int64(rdbHeaderLen), max(size, 0))], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	version, err := rdbVersion(hdr[:n])
	if err != nil {
		return 0, err
	}
	if version > maxRDBVersion {
		return version, &rdbTooNew{version}
	}
	return version, nil
}

// crc64File computes the Redis CRC64 of the first n bytes of f, splitting
// a large file over up to cpus CPUs.
func crc64File(f *os.File, n int64, cpus int) (uint64, error) {
	const minPart = 16 << 20
	return crc64FileParts(f, n, int(min(int64(max(cpus, 1)), 4, max(n/minPart, 1))))
}

// crc64FileParts computes the CRC64 of the first n bytes of f in parts
// sections at once.
func crc64FileParts(f *os.File, n int64, parts int) (uint64, error) {
	type result struct {
		crc uint64
		err error
	}
	res := make([]result, parts)
	partLen := n / int64(parts)
	var wg sync.WaitGroup
	for i := range parts {
		off := int64(i) * partLen
		end := off + partLen
		if i == parts-1 {
			end = n
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].crc, res[i].err = crc64Section(f, off, end)
		}()
	}
	wg.Wait()
	var crc uint64
	for i, r := range res {
		if r.err != nil {
			return 0, r.err
		}
		if i == 0 {
			crc = r.crc
			continue
		}
		l := partLen
		if i == parts-1 {
			l = n - int64(i)*partLen
		}
		crc = crc64Combine(crc, r.crc, l)
	}
	return crc, nil
}

func crc64Section(f *os.File, off, end int64) (uint64, error) {
	buf := make([]byte, min(1<<20, end-off))
	var crc uint64
	for off < end {
		b := buf[:min(int64(len(buf)), end-off)]
		n, err := f.ReadAt(b, off)
		crc = crc64Update(crc, b[:n])
		off += int64(n)
		if err != nil && off < end {
			if errors.Is(err, io.EOF) {
				return 0, rdbErrorf("the file shrank while it was being verified")
			}
			return 0, err
		}
	}
	return crc, nil
}

// rdbStreamVerifier checks an RDB snapshot as it is written through it (for
// example while it is copied), holding back the last bytes so that the
// checksum is computed over everything before them. Call Result after the
// last Write.
type rdbStreamVerifier struct {
	n       int64
	hdr     []byte
	version int
	err     error
	crc     uint64
	// held are the last bytes seen, not yet in crc.
	held []byte
}

func newRDBStreamVerifier() *rdbStreamVerifier {
	return &rdbStreamVerifier{held: make([]byte, 0, rdbTailLen)}
}

func (v *rdbStreamVerifier) Write(p []byte) (int, error) {
	n := len(p)
	v.n += int64(n)
	if v.err != nil {
		// Refused from its header on: no need to read the rest.
		return n, v.err
	}
	if len(v.hdr) < rdbHeaderLen {
		take := min(rdbHeaderLen-len(v.hdr), len(p))
		v.hdr = append(v.hdr, p[:take]...)
		if len(v.hdr) == rdbHeaderLen {
			v.version, v.err = rdbVersion(v.hdr)
			if v.err == nil && v.version > maxRDBVersion {
				v.err = &rdbTooNew{v.version}
			}
			if v.err != nil {
				return n, v.err
			}
		}
	}
	// Keep the last bytes out of the CRC until the end is known.
	keep := rdbTailLen
	if len(p) >= keep {
		v.crc = crc64Update(v.crc, v.held)
		v.crc = crc64Update(v.crc, p[:len(p)-keep])
		v.held = append(v.held[:0], p[len(p)-keep:]...)
		return n, nil
	}
	all := append(v.held, p...)
	if over := len(all) - keep; over > 0 {
		v.crc = crc64Update(v.crc, all[:over])
		all = append(all[:0], all[over:]...)
	}
	v.held = all
	return n, nil
}

// Result checks the trailer once everything has been written.
func (v *rdbStreamVerifier) Result() (rdbSummary, error) {
	if v.err != nil {
		return rdbSummary{Version: v.version, Size: v.n}, v.err
	}
	if len(v.hdr) < rdbHeaderLen {
		_, err := rdbVersion(v.hdr)
		return rdbSummary{Size: v.n}, err
	}
	return checkTrailer(v.version, v.n, v.held, v.crc)
}
