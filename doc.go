// Package hypha is the domain of the Hypha team server: the records, groves,
// projects, credentials and settings it manages, the store interfaces every
// storage engine implements, and the stable error codes clients switch on.
//
// The package imports only the standard library. Logic written once over
// these interfaces lives in app/; each storage engine (sqlite/, postgres/) is
// a thin implementation of the interfaces; cmd/hypha wires them together.
package hypha
