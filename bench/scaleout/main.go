// Command scaleout is bench/scaleout.sh's helper: it uploads one file to a
// MinIO bucket with minio-go (creating the bucket) and prints free
// loopback ports, so that the script needs no mc client.
//
//	scaleout upload ENDPOINT BUCKET KEY FILE   (credentials from MINIO_ROOT_USER/MINIO_ROOT_PASSWORD)
//	scaleout ports N                           (N free 127.0.0.1 ports, one a line)
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "upload":
		if len(os.Args) != 6 {
			usage()
		}
		err = upload(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
	case "ports":
		if len(os.Args) != 3 {
			usage()
		}
		err = ports(os.Args[2])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scaleout upload ENDPOINT BUCKET KEY FILE | ports N")
	os.Exit(2)
}

func upload(endpoint, bucket, key, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mc, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD"), ""),
		Region: "us-east-1",
	})
	if err != nil {
		return err
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	info, err := mc.FPutObject(ctx, bucket, key, path, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	fmt.Printf("uploaded %s/%s: %d bytes\n", bucket, key, info.Size)
	return nil
}

// ports holds all N listeners open until every port is chosen, so that
// the N are distinct.
func ports(arg string) error {
	n, err := strconv.Atoi(arg)
	if err != nil || n <= 0 {
		return fmt.Errorf("N %q", arg)
	}
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return nil
}
