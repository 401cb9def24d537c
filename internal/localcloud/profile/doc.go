// Package profile holds the timings localcloud models. The default profile
// does everything at once, which keeps tests fast; the gcp profile adds the
// delays Google Cloud has (a URL map change reaching the edge, a Memorystore
// import, a Cloud Run revision deploy...), each citing the page or published
// measurement it comes from, so that a drill predicts production rather than
// a laptop. A time scale divides every delay actually slept, and the ledger
// keeps both the modelled and the slept duration so reports can scale back.
package profile
