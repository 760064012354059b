import { mount } from "svelte";
import Incoming from "./pages/Incoming.svelte";
import "./app.css";

// The small incoming-call window (incoming.html): a page of its own, so its first paint loads
// only what it shows — not the whole app.
mount(Incoming, { target: document.getElementById("app")! });
