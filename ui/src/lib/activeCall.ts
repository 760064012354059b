// Following the call in progress: the core's answer at start, then every `active_call` event.
import { api, events } from "./api";
import type { ActiveCall, UiError } from "./types";

/** Calls `onchange` with the active call now and after every change; returns the function that stops. */
export function followActiveCall(onchange: (c: ActiveCall | null) => void, onerror?: (e: UiError) => void): () => void {
  // Listen first, then ask; an answer to the question must not overwrite a newer event.
  let heard = false;
  const unlisten = events.activeCall((c) => {
    heard = true;
    onchange(c);
  });
  unlisten
    .then(() => api.calls.active())
    .then((c) => {
      if (!heard) onchange(c);
    })
    .catch((e: UiError) => onerror?.(e));
  return () => {
    unlisten.then((f) => f());
  };
}
