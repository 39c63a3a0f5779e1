package store

// SetCompactAt lets tests fold the log early.
func SetCompactAt(n int64) func() {
	old := compactAt
	compactAt = n
	return func() { compactAt = old }
}

// SetFoldHook sets the hook called at each stage of a fold.
func SetFoldHook(f func(stage string)) func() {
	old := foldHook
	foldHook = f
	return func() { foldHook = old }
}
