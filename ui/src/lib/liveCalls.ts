// Following the calls in progress: the core's answer at start, then every `live_calls` event.
import { api, events } from "./api";
import type { ActiveCall, UiError } from "./types";

/** Calls `onchange` with the calls in progress now and after every change; returns the function that stops. */
export function followLiveCalls(onchange: (calls: ActiveCall[]) => void, onerror?: (e: UiError) => void): () => void {
  // Listen first, then ask; an answer to the question must not overwrite a newer event.
  let heard = false;
  const unlisten = events.liveCalls((calls) => {
    heard = true;
    onchange(calls);
  });
  unlisten
    .then(() => api.calls.live())
    .then((calls) => {
      if (!heard) onchange(calls);
    })
    .catch((e: UiError) => onerror?.(e));
  return () => {
    unlisten.then((f) => f());
  };
}
