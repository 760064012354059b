import { api, events } from "./api";
import type { TeamEvent, TeamView } from "./types";

/**
 * For a page that shows the team's state in team mode (its own otherwise): `onView` gets each
 * view of the link; `reload` runs when the desktop joins or leaves a team (whose state this
 * is changes) and when the server's news is of one of `kinds` (or says to read all again).
 * Returns what stops following.
 */
export function followTeam(
  onView: (v: TeamView) => void,
  reload: () => void,
  kinds: TeamEvent["kind"][],
): () => void {
  let joined: string | null = null;
  const view = (v: TeamView) => {
    onView(v);
    const now = v.joined?.server ?? null;
    if (now !== joined) {
      joined = now;
      reload();
    }
  };
  api.team.get().then(view).catch(() => {});
  const stopView = events.team(view);
  const stopNews = events.teamNews((e) => {
    if (e.kind === "resync" || kinds.includes(e.kind)) reload();
  });
  return () => {
    stopView.then((f) => f());
    stopNews.then((f) => f());
  };
}

/** In a team, only its admins change numbers and agents (the server refuses anyone else). */
export const readOnly = (v: TeamView | null): boolean => !!v?.joined && v.joined.role !== "admin";

/** The team's server address, when in a team. */
export const teamServer = (v: TeamView | null): string | null => v?.joined?.server ?? null;
