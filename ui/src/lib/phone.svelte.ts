// How phone numbers read on screen: the journal keeps E.164; people read their own country's
// numbers in its national format and others' internationally, as a desk phone shows them.
import type { CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";
import { api } from "./api";

// The agent's country (the app's region) and the number library, both loaded after the first
// paint (the library is most of a window's code: the incoming popup must not wait for it).
// Until then numbers show as E.164; every number shown follows once they are in.
const home = $state({ region: "", ready: false });
let parse: typeof parsePhoneNumberFromString | null = null;
api
  .appInfo()
  .then((i) => (home.region = i.region))
  .catch(() => {});
// After the first frame: fetching it earlier competes with the first paint.
requestAnimationFrame(() =>
  setTimeout(() =>
    import("libphonenumber-js")
      .then((lib) => {
        parse = lib.parsePhoneNumberFromString;
        home.ready = true;
      })
      .catch(() => {}),
  ),
);

/** "(415) 555-2671" for a number of the agent's country, "+44 20 7946 0958" for another,
 *  and anything that is not a phone number (a SIP address, "anonymous") as it is. */
export function readable(value: string): string {
  if (!home.ready || !parse || !value.startsWith("+")) return value;
  const number = parse(value);
  if (!number?.isValid()) return value;
  return number.country && number.country === (home.region as CountryCode)
    ? number.formatNational()
    : number.formatInternational();
}
