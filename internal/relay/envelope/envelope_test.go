package envelope

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func seedFrames() [][]byte {
	e := Envelope{ID: "id-1", From: "alice/phone", To: "bob", Sent: 1700000000000, Payload: []byte{0, 1, 2, 0xff}}
	send := Envelope{ID: "x", To: "bob", Payload: nil}
	return [][]byte{
		AppendEnvelope(nil, TypeSend, &send),
		AppendEnvelope(nil, TypeDeliver, &e),
		AppendEnvelope(nil, TypeSend, &e),
		AppendIDs(nil, TypeAck, []string{"a", "b-2", "c:3"}),
		AppendIDs(nil, TypeDeliveryAck, []string{"id-1"}),
		AppendNack(nil, &Nack{ID: "id-1", Code: NackInboxFull, Reason: "recipient inbox full"}),
		AppendHello(nil, &Hello{Address: "alice/probe-a", Instance: "i-1", Region: "europe-west1", MaxFrame: 65536}),
		{byte(TypePing)},
		{byte(TypePong)},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, b := range seedFrames() {
		f, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if got := Encode(&f); !bytes.Equal(got, b) {
			t.Fatalf("re-encode %s: got %x want %x", f.Type, got, b)
		}
	}
	e := Envelope{ID: "m1", From: "a", To: "b/c", Sent: 42, Payload: []byte("ciphertext")}
	f, err := Decode(AppendEnvelope(nil, TypeDeliver, &e))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Envelope, e) {
		t.Fatalf("got %+v want %+v", f.Envelope, e)
	}
}

func TestMalformed(t *testing.T) {
	good := AppendEnvelope(nil, TypeSend, &Envelope{ID: "m1", To: "bob", Payload: []byte("x")})
	cases := map[string][]byte{
		"empty":          {},
		"unknown type":   {99},
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"bad version":    append([]byte{byte(TypeSend), 2}, good[2:]...),
		"bad id":         AppendEnvelope(nil, TypeSend, &Envelope{ID: "a b", To: "bob"}),
		"empty id":       AppendEnvelope(nil, TypeSend, &Envelope{ID: "", To: "bob"}),
		"bad to":         AppendEnvelope(nil, TypeSend, &Envelope{ID: "m", To: "bob\n"}),
		"empty to":       AppendEnvelope(nil, TypeSend, &Envelope{ID: "m", To: ""}),
		"double slash":   AppendEnvelope(nil, TypeSend, &Envelope{ID: "m", To: "a/b/c"}),
		"deliver no src": AppendEnvelope(nil, TypeDeliver, &Envelope{ID: "m", To: "b"}),
		"zero ids":       AppendIDs(nil, TypeAck, nil),
		"ping trailing":  {byte(TypePing), 1},
		"nack zero code": AppendNack(nil, &Nack{ID: "m", Code: 0}),
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestAddresses(t *testing.T) {
	for _, a := range []string{"alice", "alice/phone", "u:1@x.y", "A-b_c.d"} {
		if !ValidAddress(a) {
			t.Errorf("%q should be valid", a)
		}
	}
	for _, a := range []string{"", "/x", "x/", "a/b/c", "sp ace", "é", string(make([]byte, 201))} {
		if ValidAddress(a) {
			t.Errorf("%q should be invalid", a)
		}
	}
}

// FuzzDecode checks the decoder never panics, and that whatever it accepts
// re-encodes to exactly the same bytes.
func FuzzDecode(f *testing.F) {
	for _, b := range seedFrames() {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{byte(TypeSend), 1, 255})
	f.Add([]byte{byte(TypeAck), 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if got := Encode(&fr); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, got)
		}
	})
}
