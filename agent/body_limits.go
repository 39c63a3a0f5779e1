package agent

// Bounds of request bodies: an operator call is a path and two numbers;
// an executor's status update may carry data, as Mesos' does.
const (
	maxAPICallBytes      = 1 << 20
	maxExecutorCallBytes = 16 << 20
)
