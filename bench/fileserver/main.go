package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", ".", "directory to serve")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, http.FileServer(http.Dir(*dir))))
}
