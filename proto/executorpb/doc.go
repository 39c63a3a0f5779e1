// Package executorpb holds the messages of the Mesos v1 executor HTTP API
// (package mesos.v1.executor), generated from executor.proto.
package executorpb
