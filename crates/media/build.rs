fn main() {
    // ALSA's error callback is variadic: a few lines of C route it to the log (device.rs).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rerun-if-changed=native/alsa_log.c");
        cc::Build::new()
            .file("native/alsa_log.c")
            .warnings(true)
            .compile("ringdesk_alsa_log");
    }
}
