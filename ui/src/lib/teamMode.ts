import { api, events } from "./api";
import type { TeamEvent, TeamView } from "./types";

/**
 * Follows whether this desktop is in a team (and as what), and the team's news, for a page
 * that shows the team's state in team mode: `onView` with each view of the link, `onNews`
 * with each event the server sends. Returns what stops following.
 */
export function followTeam(onView: (v: TeamView) => void, onNews: (e: TeamEvent) => void): () => void {
  api.team.get().then(onView).catch(() => {});
  const stopView = events.team(onView);
  const stopNews = events.teamNews(onNews);
  return () => {
    stopView.then((f) => f());
    stopNews.then((f) => f());
  };
}

/** In a team, only its admins change numbers and agents (the server refuses anyone else). */
export const readOnly = (v: TeamView | null): boolean => !!v?.joined && v.joined.role !== "admin";

/** The team's server address, when in a team. */
export const teamServer = (v: TeamView | null): string | null => v?.joined?.server ?? null;
