fn main() {
    tonic_build::compile_protos("proto/kv.proto").expect("protoc compiles proto/kv.proto");
}
