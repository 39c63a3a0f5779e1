package store

// SetCompactAt lets tests fold the log early.
func SetCompactAt(n int64) func() {
	old := compactAt
	compactAt = n
	return func() { compactAt = old }
}
