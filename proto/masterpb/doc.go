// Package masterpb holds the messages of the Mesos v1 operator API
// (packages mesos.v1.master, mesos.v1.quota and mesos.v1.maintenance),
// generated from the .proto files next to this one.
package masterpb
