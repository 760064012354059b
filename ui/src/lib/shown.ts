import { api } from "./api";

/** Tells the shell once this window has painted what is on screen now (after the next frame):
 *  its own clock makes the start-up and popup figures. */
export function reportShown(): void {
  requestAnimationFrame(() => setTimeout(() => api.uiShown().catch(() => {}), 0));
}
