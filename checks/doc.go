// Package checks holds tests about the repository itself rather than about any one service: no
// committed file is a built binary, the documentation links nowhere outside the repository, and
// every log line names its error under one key. They run with every module's unit tests.
package checks
