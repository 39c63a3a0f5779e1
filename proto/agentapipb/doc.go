// Package agentapipb holds the messages of the Mesos v1 agent operator
// API (package mesos.v1.agent), generated from agent_api.proto.
package agentapipb
