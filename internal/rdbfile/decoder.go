package rdbfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
	"strconv"
)

// crc64Table is Redis's CRC64 ("Jones" polynomial 0xad93d23594c935a9) in the
// reflected form hash/crc64 takes.
var crc64Table = crc64.MakeTable(0x95AC9329AC4BC9B5)

// decoder reads an RDB stream, keeping the offset and the running CRC64 of
// everything read (Redis's CRC64 has no initial or final inversion, which
// hash/crc64 applies: they are undone here).
type decoder struct {
	r     *bufio.Reader
	off   int64
	crc   uint64
	noCRC bool
	buf   [4096]byte
}

func (d *decoder) errorf(format string, args ...any) error {
	return &FormatError{Offset: d.off, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) consumed(p []byte) {
	d.off += int64(len(p))
	if !d.noCRC {
		d.crc = ^crc64.Update(^d.crc, crc64Table, p)
	}
}

func (d *decoder) full(p []byte) error {
	n, err := io.ReadFull(d.r, p)
	d.consumed(p[:n])
	return err
}

func (d *decoder) byte() (byte, error) {
	var b [1]byte
	err := d.full(b[:])
	return b[0], err
}

// skip reads n bytes, for the checksum, and drops them.
func (d *decoder) skip(n uint64) error {
	for n > 0 {
		chunk := d.buf[:min(n, uint64(len(d.buf)))]
		if err := d.full(chunk); err != nil {
			return err
		}
		n -= uint64(len(chunk))
	}
	return nil
}

// Length encodings: the first byte's two high bits say how the length is
// stored; 11 marks a string stored in a special encoding.
const (
	enc6Bit    = 0
	enc14Bit   = 1
	enc32Or64  = 2
	encSpecial = 3

	encInt8  = 0
	encInt16 = 1
	encInt32 = 2
	encLZF   = 3
)

// lengthOrEncoding reads a length, or the special encoding of a string.
func (d *decoder) lengthOrEncoding() (n uint64, special bool, err error) {
	b, err := d.byte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case enc6Bit:
		return uint64(b & 0x3F), false, nil
	case enc14Bit:
		b2, err := d.byte()
		return uint64(b&0x3F)<<8 | uint64(b2), false, err
	case encSpecial:
		return uint64(b & 0x3F), true, nil
	}
	switch b {
	case 0x80:
		var p [4]byte
		err := d.full(p[:])
		return uint64(binary.BigEndian.Uint32(p[:])), false, err
	case 0x81:
		var p [8]byte
		err := d.full(p[:])
		return binary.BigEndian.Uint64(p[:]), false, err
	}
	return 0, false, d.errorf("unknown length encoding 0x%02x", b)
}

func (d *decoder) length() (uint64, error) {
	n, special, err := d.lengthOrEncoding()
	if err == nil && special {
		err = d.errorf("a string encoding where a length is expected")
	}
	return n, err
}

func (d *decoder) skipLengths(n int) error {
	for range n {
		if _, err := d.length(); err != nil {
			return err
		}
	}
	return nil
}

// maxInlineString bounds the strings decoded (rather than skipped): aux
// fields are short.
const maxInlineString = 1 << 20

// stringValue decodes a string (auxiliary fields).
func (d *decoder) stringValue() (string, error) {
	n, special, err := d.lengthOrEncoding()
	if err != nil {
		return "", err
	}
	if special {
		switch n {
		case encInt8:
			b, err := d.byte()
			return strconv.Itoa(int(int8(b))), err
		case encInt16:
			var p [2]byte
			err := d.full(p[:])
			return strconv.Itoa(int(int16(binary.LittleEndian.Uint16(p[:])))), err
		case encInt32:
			var p [4]byte
			err := d.full(p[:])
			return strconv.Itoa(int(int32(binary.LittleEndian.Uint32(p[:])))), err
		case encLZF:
			return d.lzfString()
		}
		return "", d.errorf("unknown string encoding %d", n)
	}
	if n > maxInlineString {
		return "", d.errorf("auxiliary field of %d bytes", n)
	}
	p := make([]byte, n)
	return string(p), d.full(p)
}

func (d *decoder) lzfString() (string, error) {
	clen, err := d.length()
	if err != nil {
		return "", err
	}
	ulen, err := d.length()
	if err != nil {
		return "", err
	}
	if clen > maxInlineString || ulen > maxInlineString {
		return "", d.errorf("compressed auxiliary field of %d bytes", ulen)
	}
	in := make([]byte, clen)
	if err := d.full(in); err != nil {
		return "", err
	}
	out, ok := lzfDecompress(in, int(ulen))
	if !ok {
		return "", d.errorf("corrupt LZF-compressed string")
	}
	return string(out), nil
}

// skipString skips a string in any encoding.
func (d *decoder) skipString() error {
	n, special, err := d.lengthOrEncoding()
	if err != nil {
		return err
	}
	if !special {
		return d.skip(n)
	}
	switch n {
	case encInt8:
		return d.skip(1)
	case encInt16:
		return d.skip(2)
	case encInt32:
		return d.skip(4)
	case encLZF:
		clen, err := d.length()
		if err == nil {
			_, err = d.length()
		}
		if err == nil {
			err = d.skip(clen)
		}
		return err
	}
	return d.errorf("unknown string encoding %d", n)
}

func (d *decoder) skipStrings(n uint64) error {
	for range n {
		if err := d.skipString(); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) skipKey() error { return d.skipString() }

// skipValue skips a value of type t.
func (d *decoder) skipValue(t byte) error {
	switch t {
	case typeString, typeHashZipmap, typeListZiplist, typeSetIntset, typeZSetZiplist,
		typeHashZiplist, typeHashListpack, typeZSetListpack, typeSetListpack:
		return d.skipString()
	case typeList, typeSet, typeListQuicklist:
		n, err := d.length()
		if err != nil {
			return err
		}
		return d.skipStrings(n)
	case typeHash:
		n, err := d.length()
		if err != nil {
			return err
		}
		return d.skipStrings(2 * n)
	case typeZSet, typeZSet2:
		return d.skipZSet(t)
	case typeListQuicklist2:
		n, err := d.length()
		if err != nil {
			return err
		}
		for range n {
			if err := d.skipLengths(1); err != nil { // container: plain or packed
				return err
			}
			if err := d.skipString(); err != nil {
				return err
			}
		}
		return nil
	case typeStreamListpacks, typeStream2, typeStream3:
		return d.skipStream(t)
	case typeModule2:
		if err := d.skipLengths(1); err != nil { // module id
			return err
		}
		return d.skipModuleValue()
	}
	return d.errorf("value type %d is not one Redis 7.0 to 7.2 writes", t)
}

func (d *decoder) skipZSet(t byte) error {
	n, err := d.length()
	if err != nil {
		return err
	}
	for range n {
		if err := d.skipString(); err != nil {
			return err
		}
		if t == typeZSet2 {
			err = d.skip(8) // binary double
		} else {
			err = d.skipTextDouble()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// skipTextDouble skips a score of the old zset encoding: a length byte,
// with 253, 254, 255 standing for NaN, +inf, -inf.
func (d *decoder) skipTextDouble() error {
	n, err := d.byte()
	if err != nil || n >= 253 {
		return err
	}
	return d.skip(uint64(n))
}

// skipStream skips a stream: its listpacks, metadata, consumer groups with
// their pending entries and consumers.
func (d *decoder) skipStream(t byte) error {
	nodes, err := d.length()
	if err != nil {
		return err
	}
	if err := d.skipStrings(2 * nodes); err != nil { // master id, listpack
		return err
	}
	// length, last id (ms, seq); from format 2: first id, max deleted id,
	// entries added.
	meta := 3
	if t >= typeStream2 {
		meta += 5
	}
	if err := d.skipLengths(meta); err != nil {
		return err
	}
	groups, err := d.length()
	if err != nil {
		return err
	}
	for range groups {
		if err := d.skipString(); err != nil { // name
			return err
		}
		groupMeta := 2 // last id
		if t >= typeStream2 {
			groupMeta++ // entries read
		}
		if err := d.skipLengths(groupMeta); err != nil {
			return err
		}
		pending, err := d.length()
		if err != nil {
			return err
		}
		for range pending { // id (16 bytes), delivery time (8), delivery count
			if err := d.skip(24); err != nil {
				return err
			}
			if err := d.skipLengths(1); err != nil {
				return err
			}
		}
		consumers, err := d.length()
		if err != nil {
			return err
		}
		for range consumers {
			if err := d.skipString(); err != nil { // name
				return err
			}
			times := uint64(8) // seen time
			if t >= typeStream3 {
				times += 8 // active time
			}
			if err := d.skip(times); err != nil {
				return err
			}
			owned, err := d.length()
			if err != nil {
				return err
			}
			if err := d.skip(16 * owned); err != nil {
				return err
			}
		}
	}
	return nil
}

// Module value opcodes (RDB_MODULE_OPCODE_*).
const (
	moduleEOF    = 0
	moduleSInt   = 1
	moduleUInt   = 2
	moduleFloat  = 3
	moduleDouble = 4
	moduleString = 5
)

// skipModuleValue skips a module's self-describing value up to its EOF.
func (d *decoder) skipModuleValue() error {
	for {
		op, err := d.length()
		if err != nil {
			return err
		}
		switch op {
		case moduleEOF:
			return nil
		case moduleSInt, moduleUInt:
			err = d.skipLengths(1)
		case moduleFloat:
			err = d.skip(4)
		case moduleDouble:
			err = d.skip(8)
		case moduleString:
			err = d.skipString()
		default:
			return d.errorf("unknown module value opcode %d", op)
		}
		if err != nil {
			return err
		}
	}
}

// lzfDecompress expands LZF data (liblzf's format, as Redis writes it)
// into exactly n bytes.
func lzfDecompress(in []byte, n int) ([]byte, bool) {
	out := make([]byte, 0, n)
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 { // literal run of ctrl+1 bytes
			end := i + ctrl + 1
			if end > len(in) || len(out)+ctrl+1 > n {
				return nil, false
			}
			out = append(out, in[i:end]...)
			i = end
			continue
		}
		length := ctrl >> 5
		if length == 7 {
			if i >= len(in) {
				return nil, false
			}
			length += int(in[i])
			i++
		}
		if i >= len(in) {
			return nil, false
		}
		ref := len(out) - (ctrl&0x1f)<<8 - int(in[i]) - 1
		i++
		length += 2
		if ref < 0 || len(out)+length > n {
			return nil, false
		}
		for k := range length { // byte by byte: the copy may overlap
			out = append(out, out[ref+k])
		}
	}
	return out, len(out) == n
}
