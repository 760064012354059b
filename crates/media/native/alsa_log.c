/* ALSA reports its errors through a variadic C callback (printing to stderr by default: a
 * wall of "ALSA lib …" lines each time devices are probed). Rust cannot define a variadic
 * function, so this one formats the message and hands it to Rust's log. libasound is found
 * at run time: nothing here needs its headers. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>

typedef void (*alsa_error_handler)(const char *file, int line, const char *function, int err,
                                   const char *fmt, ...);
typedef int (*alsa_set_handler)(alsa_error_handler handler);

extern void ringdesk_native_log(const char *source, const char *message);

static void alsa_to_log(const char *file, int line, const char *function, int err,
                        const char *fmt, ...) {
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt ? fmt : "", args);
    va_end(args);
    char full[768];
    snprintf(full, sizeof full, "%s:%d (%s) %s", file ? file : "?", line,
             function ? function : "?", text);
    (void)err;
    ringdesk_native_log("alsa", full);
}

/* 0 when ALSA's errors now go to the log; -1 when libasound is not loaded. */
int ringdesk_route_alsa_errors(void) {
    alsa_set_handler set = (alsa_set_handler)dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
    if (!set) return -1;
    return set(alsa_to_log);
}
