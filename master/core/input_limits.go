package core

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Caps on what one call may carry. The body limits (maxCallBytes,
// maxOperatorCallBytes) bound memory; these bound the work and the state a
// call can create, and keep every string the master stores, logs and
// serves to the web UI a sane size.
const (
	maxStringBytes      = 64 << 10 // any one string field
	maxLabels           = 100      // labels on one object
	maxOperationsPerACC = 1000     // operations in one ACCEPT
	maxTasksPerACCEPT   = 10000    // tasks launched by one ACCEPT
	maxListLength       = 100000   // any other repeated field
)

var labelsDescriptor = (&mesospb.Labels{}).ProtoReflect().Descriptor()

// checkLimits walks msg and reports the first field beyond a cap, naming
// it by its path (e.g. "accept.operations[2].launch.task_infos[0].labels"),
// or "". It runs on every call, so the path is only spelled out on error.
func checkLimits(msg protoreflect.Message) string {
	w := &limitWalker{}
	w.visit = w.field // one closure for the whole walk
	w.message(msg)
	return w.bad
}

type pathElem struct {
	name  protoreflect.Name
	index int // -1: not a list element
}

type limitWalker struct {
	path  []pathElem
	bad   string
	visit func(protoreflect.FieldDescriptor, protoreflect.Value) bool
}

func (w *limitWalker) where() string {
	var b strings.Builder
	for i, e := range w.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(e.name))
		if e.index >= 0 {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return b.String()
}

func (w *limitWalker) fail(format string, args ...any) bool {
	w.bad = fmt.Sprintf("'%s' "+format, append([]any{w.where()}, args...)...)
	return false
}

func (w *limitWalker) message(msg protoreflect.Message) bool {
	msg.Range(w.visit)
	return w.bad == ""
}

func (w *limitWalker) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	w.path = append(w.path, pathElem{fd.Name(), -1})
	ok := w.fieldValue(fd, v)
	w.path = w.path[:len(w.path)-1]
	return ok
}

func (w *limitWalker) fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch {
	case fd.IsList():
		l := v.List()
		limit := maxListLength
		if fd.ContainingMessage() == labelsDescriptor {
			limit = maxLabels
		}
		if l.Len() > limit {
			return w.fail("has %d entries; at most %d are allowed", l.Len(), limit)
		}
		top := len(w.path) - 1
		for i := 0; i < l.Len(); i++ {
			w.path[top].index = i
			if !w.value(fd, l.Get(i)) {
				return false
			}
		}
		return true
	case fd.IsMap():
		m := v.Map()
		if m.Len() > maxListLength {
			return w.fail("has %d entries; at most %d are allowed", m.Len(), maxListLength)
		}
		m.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			if s, ok := k.Interface().(string); ok && len(s) > maxStringBytes {
				return w.fail("has a key of %d bytes; at most %d are allowed", len(s), maxStringBytes)
			}
			return w.value(fd.MapValue(), mv)
		})
		return w.bad == ""
	default:
		return w.value(fd, v)
	}
}

func (w *limitWalker) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if n := len(v.String()); n > maxStringBytes {
			return w.fail("is %d bytes; at most %d are allowed", n, maxStringBytes)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return w.message(v.Message())
	}
	return true
}

// checkAcceptLimits bounds the operations and tasks of an ACCEPT.
func checkAcceptLimits(acc *schedulerpb.Call_Accept) string {
	ops := acc.GetOperations()
	if len(ops) > maxOperationsPerACC {
		return fmt.Sprintf("ACCEPT carries %d operations; at most %d are allowed", len(ops), maxOperationsPerACC)
	}
	tasks := 0
	for _, op := range ops {
		tasks += len(op.GetLaunch().GetTaskInfos()) + len(op.GetLaunchGroup().GetTaskGroup().GetTasks())
	}
	if tasks > maxTasksPerACCEPT {
		return fmt.Sprintf("ACCEPT launches %d tasks; at most %d are allowed", tasks, maxTasksPerACCEPT)
	}
	return ""
}
