// Package fakecloud holds loopback fakes of the cloud APIs jit talks to. They
// speak the real wire protocols, so tests drive them through the official
// SDKs (endpoint override) and the `jit dev` sandbox can run every command
// offline.
//
// STS is a fake of AWS Security Token Service (awsQuery protocol, version
// 2011-06-15) that verifies SigV4 signatures, enforces the role rules AWS
// enforces (trust, tagging and source-identity permissions, session
// durations, role chaining) and remembers the credentials it issues so they
// work for later calls and expire.
//
// Every fake binds 127.0.0.1 only; none of them ever talks to a real cloud.
package fakecloud
