// How calls read on screen: pure functions shared by the call widget, the incoming popup and the journal.
import { readable } from "./phone.svelte";
import type { ActiveCall, Call, CallAudio, CallDirection, CallQuality, CallStatus, Disposition } from "./types";

/** The agent's after-call outcomes, in the order the wrap-up offers them. */
export const dispositionLabels: Record<Disposition, string> = {
  interested: "Interested",
  not_interested: "Not interested",
  call_back: "Call back",
  left_voicemail: "Left voicemail",
  wrong_number: "Wrong number",
};

/** The other party's number or SIP address: who was called, or who called. */
export function otherParty(call: Call): string {
  return call.direction === "outbound" ? call.to : call.from;
}

/** The other party as the agent reads it (national format for their own country's numbers). */
export function otherPartyText(call: Call): string {
  return readable(otherParty(call));
}

/** The contact's name when the number is known, else the number. */
export function peerName(call: Call): string {
  return call.contactName ?? otherPartyText(call);
}

export function isRingingInbound(active: ActiveCall | null): boolean {
  return !!active && active.call.status === "ringing" && active.call.direction === "inbound";
}

/** The call the keyboard shortcuts act on — the rule the core applies to a control without a
 *  call (`leg_for` in crates/app/src/calls/desk.rs): the one talked to, else one ringing in,
 *  else one being placed, else the first held. */
export function focusedCall(calls: ActiveCall[]): ActiveCall | null {
  const live = (c: ActiveCall) => c.call.status === "in_progress";
  return (
    calls.find((c) => live(c) && !c.held) ??
    calls.find((c) => isRingingInbound(c)) ??
    calls.find((c) => c.call.status === "ringing") ??
    calls.find(live) ??
    null
  );
}

/** "0:07", "12:34", "1:02:03"; `padMinutes` gives "00:07" for a running timer. */
/** Where a call's recording is: a file on this computer, the team server's copy (played through
 * this desktop's own link to its server), or still at the provider (copied when it can be). */
export function recordingPlace(call: Call): "here" | "team" | "provider" | null {
  const url = call.recordingUrl;
  if (!url) return null;
  if (url.startsWith("file://")) return "here";
  // The team server's own link, or the share link the desktop keeps (Rust `team_call_of`).
  if (/\/api\/v1\/calls\/[0-9a-f-]{36}\/recording$/i.test(url)) return "team";
  if (/\/recordings\/[0-9a-f-]{36}\?(.*&)?sig=/i.test(url)) return "team";
  return "provider";
}

/** An audio file's type, told by its first bytes (a provider's MP3 or WAV, our Ogg Opus). */
export function audioType(bytes: Uint8Array): string {
  const text = String.fromCharCode(...bytes.slice(0, 4));
  if (text === "OggS") return "audio/ogg";
  if (text === "RIFF") return "audio/wav";
  return "audio/mpeg";
}

export function formatDuration(totalSecs: number, padMinutes = false): string {
  const secs = Math.max(0, Math.floor(totalSecs));
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h}:${two(m)}:${two(s)}`;
  return `${padMinutes ? two(m) : m}:${two(s)}`;
}

/** Whole seconds from an RFC 3339 time to `now` (milliseconds), never negative. */
export function secondsSince(since: string, now: number): number {
  const start = Date.parse(since);
  return Number.isNaN(start) ? 0 : Math.max(0, Math.floor((now - start) / 1000));
}

const liveWords: Record<CallStatus, string> = {
  ringing: "Ringing",
  in_progress: "In progress",
  completed: "Completed",
  failed: "Failed",
};

/** A journal row's outcome in words. */
export function outcomeText(call: Call): string {
  if (call.endReason === "interrupted") return "Interrupted";
  if (call.status !== "failed") return liveWords[call.status];
  switch (call.endReason) {
    case "missed":
      return "Missed";
    case "declined":
      return "Declined";
    case "busy":
      return "Busy";
    case "no_answer":
      return "No answer";
    case "canceled":
      return "Cancelled";
    default:
      return call.endDetail ? `Failed: ${call.endDetail}` : "Failed";
  }
}

/** How the call went beyond its outcome, in words: the queue it came through, who passed it on
 *  to us, each transfer of it ("Transferred to +14155550100 (talked first)", "Transfer to …
 *  failed: busy"), and the message the caller left. */
export function storyTexts(call: Call): string[] {
  const queue = call.queue ? [`Through the ${call.queue} queue`] : [];
  const by = queue.concat(call.transferredBy ? [`Passed on by ${call.transferredBy}`] : []);
  const left = call.voicemail
    ? [`Left a voicemail${call.voicemail.durationSecs != null ? ` (${formatDuration(call.voicemail.durationSecs)})` : ""}${call.voicemail.transcription ? `: “${call.voicemail.transcription}”` : ""}`]
    : [];
  const transfers = (call.transfers ?? []).map((t) => {
    const how = t.kind === "attended" ? " (talked first)" : "";
    switch (t.outcome) {
      case "succeeded":
        return `Transferred to ${t.to}${how}`;
      case "failed":
        return `Transfer to ${t.to} failed${t.detail ? `: ${t.detail}` : ""}`;
      case "cancelled":
        return `Transfer to ${t.to} cancelled${how}`;
      default:
        return `Transfer to ${t.to} asked${how}`;
    }
  });
  return by.concat(transfers, left);
}

/** Outcomes worth a warning colour in the journal. */
export function isBadOutcome(call: Call): boolean {
  return call.status === "failed" && (call.endReason === "missed" || call.endReason === "failed" || call.endReason === null);
}

export const directionLabels: Record<CallDirection, string> = { inbound: "Inbound", outbound: "Outbound" };
export const directionArrows: Record<CallDirection, string> = { inbound: "↙", outbound: "↗" };

export function qualityText(q: CallQuality): string {
  if (q.stalled) return "No audio from the other side: it arrives but cannot be played";
  return `Poor audio (MOS ${q.mos.toFixed(1)}, loss ${Number(q.lossPercent.toFixed(1))} %)`;
}

/** A journal call's audio in a few words, and whether it was poor (MOS under 3.1). */
export function audioText(audio: CallAudio): { text: string; poor: boolean } {
  const loss = audio.lossPercent >= 0.05 ? `, ${Number(audio.lossPercent.toFixed(1))} % lost` : "";
  return { text: `Audio MOS ${audio.mos.toFixed(1)}${loss}`, poor: audio.mos < 3.1 };
}

/**
 * A date input's "YYYY-MM-DD" as an RFC 3339 bound in local time, null when blank: its midnight for
 * `since`, the next day's midnight for `until` (the core's `until` is exclusive, so the whole day counts).
 */
export function dayBound(date: string, until: boolean): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (until ? 1 : 0));
  const two = (n: number) => String(n).padStart(2, "0");
  const offset = -d.getTimezoneOffset();
  const zone = `${offset >= 0 ? "+" : "-"}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:00${zone}`;
}

export type CallShortcut = "answer" | "hangup" | "mute" | "hold" | "swap" | "transfer";

/** The call shortcuts: Ctrl+Shift+A answer, Ctrl+Shift+H hang up or decline, Ctrl+Shift+M mute,
 *  Ctrl+Shift+O hold or resume, Ctrl+Shift+S swap, Ctrl+Shift+T transfer. */
export function shortcutOf(e: KeyboardEvent): CallShortcut | null {
  if (!e.ctrlKey || !e.shiftKey || e.altKey || e.metaKey) return null;
  switch (e.key.toLowerCase()) {
    case "a":
      return "answer";
    case "h":
      return "hangup";
    case "m":
      return "mute";
    case "o":
      return "hold";
    case "s":
      return "swap";
    case "t":
      return "transfer";
    default:
      return null;
  }
}

export const shortcutHints: Record<CallShortcut, string> = {
  answer: "Ctrl+Shift+A",
  hangup: "Ctrl+Shift+H",
  mute: "Ctrl+Shift+M",
  hold: "Ctrl+Shift+O",
  swap: "Ctrl+Shift+S",
  transfer: "Ctrl+Shift+T",
};
