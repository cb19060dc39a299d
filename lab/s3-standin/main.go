// S3 STAND-IN for the tests (not MinIO, which the lab may not build, and not the owner's NAS): an
// in-memory S3 API from the gofakes3 library (MIT), so that a Pulumi s3:// state backend can be
// exercised on loopback. It checks no signature (any key is accepted) and keeps nothing on disk;
// the test creates its bucket with a plain PUT.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	faker := gofakes3.New(s3mem.New())
	log.Printf("S3 stand-in listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, faker.Server()))
}
