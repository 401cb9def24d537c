package localproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// diagInode asks the kernel (netlink sock_diag, one exact lookup) for the
// inode of the TCP socket with local address local and remote address
// remote: much cheaper than reading /proc/net/tcp, whose cost grows with
// every socket of the machine.
func diagInode(local, remote *net.TCPAddr) (uint64, error) {
	family := uint8(unix.AF_INET)
	src, dst := local.IP.To4(), remote.IP.To4()
	if src == nil || dst == nil {
		family = unix.AF_INET6
		src, dst = local.IP.To16(), remote.IP.To16()
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, err
	}

	// nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes).
	const reqLen = 16 + 56
	req := make([]byte, reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], reqLen)
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[16:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	// inet_diag_sockid: ports and addresses in network byte order.
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(local.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(remote.Port))
	copy(id[4:20], src)
	copy(id[20:36], dst)
	// No cookie: the kernel looks the socket up by its addresses.
	ne.PutUint32(id[40:], 0xffffffff)
	ne.PutUint32(id[44:], 0xffffffff)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := -int32(ne.Uint32(m.Data)); errno != 0 {
					if syscall.Errno(errno) == syscall.ENOENT {
						return 0, fmt.Errorf("%w (%s -> %s)", ErrPeerNotFound, local, remote)
					}
					return 0, fmt.Errorf("localproc: sock_diag: %w", syscall.Errno(errno))
				}
			}
		case unix.SOCK_DIAG_BY_FAMILY:
			// inet_diag_msg: family, state, timer, retrans, sockid (48),
			// expires, rqueue, wqueue, uid, inode.
			if len(m.Data) >= 72 {
				return uint64(ne.Uint32(m.Data[68:])), nil
			}
		}
	}
	return 0, errors.New("localproc: sock_diag gave no answer")
}
