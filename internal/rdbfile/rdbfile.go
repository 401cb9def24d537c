// Package rdbfile reads what a restore needs to know about a Redis RDB
// snapshot without loading it: its format version, the version of Redis
// that wrote it and how many keys it holds.
//
// Summarize streams the file once, skipping values without decoding them,
// and checks its trailing CRC64, so a truncated or altered file is refused.
// It reads the formats Redis 7.0 to 7.2 write (RDB format 10 and 11): every
// value type up to the 7.2 listpack sets and streams, module values, Redis
// Functions, expiry, LRU and LFU metadata. No library that reads them
// resolves in this module's dependencies, hence this reader.
//
// An RDB file is "REDIS", a 4-digit format version, then opcodes and
// key-value pairs until the EOF opcode, then (format 5 on) the CRC64 of
// everything before it, little-endian, zero when Redis was configured with
// rdbchecksum no.
package rdbfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Summary describes an RDB file.
type Summary struct {
	// FormatVersion is the RDB format (10 for Redis 7.0, 11 for 7.2).
	FormatVersion int
	// RedisVersion is the "redis-ver" auxiliary field, "" when absent.
	RedisVersion string
	// KeyCount is the number of keys in every database, keys with an
	// expiry included (they are in the file, whether or not expired).
	KeyCount int64
	// Databases is the number of databases that hold keys.
	Databases int
	// Checksummed is false when the file carries no checksum (rdbchecksum
	// no, or a format before 5); else its checksum matched.
	Checksummed bool
}

// MaxFormatVersion is the newest RDB format Summarize reads.
const MaxFormatVersion = 11

// Opcodes.
const (
	opSlotInfo     = 0xF4
	opFunction2    = 0xF5
	opFunctionPre  = 0xF6
	opModuleAux    = 0xF7
	opIdle         = 0xF8
	opFreq         = 0xF9
	opAux          = 0xFA
	opResizeDB     = 0xFB
	opExpireTimeMS = 0xFC
	opExpireTime   = 0xFD
	opSelectDB     = 0xFE
	opEOF          = 0xFF
)

// Value types.
const (
	typeString          = 0
	typeList            = 1
	typeSet             = 2
	typeZSet            = 3
	typeHash            = 4
	typeZSet2           = 5
	typeModule2         = 7
	typeHashZipmap      = 9
	typeListZiplist     = 10
	typeSetIntset       = 11
	typeZSetZiplist     = 12
	typeHashZiplist     = 13
	typeListQuicklist   = 14
	typeStreamListpacks = 15
	typeHashListpack    = 16
	typeZSetListpack    = 17
	typeListQuicklist2  = 18
	typeStream2         = 19
	typeSetListpack     = 20
	typeStream3         = 21
)

// FormatError says why a file is not an RDB file Summarize can read, and
// where.
type FormatError struct {
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("not a readable RDB file: %s (at byte %d)", e.Msg, e.Offset)
}

// Summarize reads an RDB file to its end.
func Summarize(r io.Reader) (Summary, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 64*1024)}
	s, err := d.summarize()
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return Summary{}, err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Summary{}, &FormatError{Offset: d.off, Msg: "file ends before the EOF opcode (truncated)"}
		}
		return Summary{}, err
	}
	return s, nil
}

func (d *decoder) summarize() (Summary, error) {
	var s Summary
	head := make([]byte, 9)
	if err := d.full(head); err != nil {
		return s, d.errorf("shorter than the 9-byte header")
	}
	if string(head[:5]) != "REDIS" {
		return s, &FormatError{Offset: 0, Msg: fmt.Sprintf("starts with %q, not \"REDIS\"", head[:5])}
	}
	v, err := strconv.Atoi(string(head[5:]))
	if err != nil || v < 1 {
		return s, &FormatError{Offset: 5, Msg: fmt.Sprintf("format version %q is not a number", head[5:])}
	}
	if v > MaxFormatVersion {
		return s, &FormatError{Offset: 5, Msg: fmt.Sprintf("format version %d is newer than the newest this provider reads (%d, Redis 7.2)", v, MaxFormatVersion)}
	}
	s.FormatVersion = v
	dbKeys := map[uint64]int64{}
	var db uint64
	for {
		op, err := d.byte()
		if err != nil {
			return s, err
		}
		switch op {
		case opEOF:
			for _, n := range dbKeys {
				s.KeyCount += n
				s.Databases++
			}
			if err := d.checksum(&s); err != nil {
				return s, err
			}
			return s, d.end()
		case opAux:
			key, err := d.stringValue()
			if err != nil {
				return s, err
			}
			val, err := d.stringValue()
			if err != nil {
				return s, err
			}
			if key == "redis-ver" {
				s.RedisVersion = val
			}
		case opSelectDB:
			if db, err = d.length(); err != nil {
				return s, err
			}
		case opResizeDB:
			err = d.skipLengths(2)
		case opSlotInfo:
			err = d.skipLengths(3)
		case opExpireTimeMS:
			err = d.skip(8)
		case opExpireTime:
			err = d.skip(4)
		case opFreq:
			err = d.skip(1)
		case opIdle:
			err = d.skipLengths(1)
		case opFunction2:
			err = d.skipString()
		case opFunctionPre:
			return s, d.errorf("Redis Functions in the 7.0 release-candidate format are not supported")
		case opModuleAux:
			if err = d.skipLengths(3); err == nil { // module id, "when" opcode, when
				err = d.skipModuleValue()
			}
		default:
			if err = d.skipKey(); err == nil {
				err = d.skipValue(op)
			}
			dbKeys[db]++
		}
		if err != nil {
			return s, err
		}
	}
}

// end checks that nothing follows the snapshot: Redis would load it and
// ignore the rest, but a file that goes on is not the file Redis wrote.
func (d *decoder) end() error {
	if _, err := d.r.ReadByte(); err == nil {
		return d.errorf("the file goes on after the end of the snapshot")
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// checksum reads the trailing CRC64 and compares it with the one computed.
func (d *decoder) checksum(s *Summary) error {
	if s.FormatVersion < 5 {
		return nil
	}
	want := d.crc
	d.noCRC = true
	b := make([]byte, 8)
	if err := d.full(b); err != nil {
		return d.errorf("file ends before its 8-byte checksum (truncated)")
	}
	var got uint64
	for i := 7; i >= 0; i-- {
		got = got<<8 | uint64(b[i])
	}
	if got == 0 {
		return nil // written with rdbchecksum no
	}
	if got != want {
		return d.errorf("checksum mismatch: the file says %016x, its content gives %016x (altered or corrupted)", got, want)
	}
	s.Checksummed = true
	return nil
}
