package election

import "github.com/go-zookeeper/zk"

// LoseCreateReplies makes the session's next n creates happen on the
// server but fail as if the connection dropped before the reply came back.
func LoseCreateReplies(s *Session, n int) {
	create := s.create
	s.create = func(path string, data []byte, flags int32, acl []zk.ACL) (string, error) {
		p, err := create(path, data, flags, acl)
		if err == nil && n > 0 {
			n--
			return "", zk.ErrConnectionClosed
		}
		return p, err
	}
}

// Adopt finds and keeps this session's znode under path, as after a lost
// reply.
func Adopt(s *Session, path string) (string, error) { return adopt(s, path) }
