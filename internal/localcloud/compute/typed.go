package compute

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// typed is m as the message its collection stores. The store holds
// proto.Message, its table says which type each collection has: a mismatch
// is a bug in that table, answered as a backend error naming both types.
func typed[M proto.Message](m proto.Message) (M, error) {
	v, ok := m.(M)
	if !ok {
		return v, fmt.Errorf("localcloud compute: a %T is stored where a %T belongs", m, v)
	}
	return v, nil
}
