import { mount } from "svelte";
import App from "./App.svelte";
import Incoming from "./pages/Incoming.svelte";
import "./app.css";

// The shell opens index.html#incoming in its small incoming-call window.
const target = document.getElementById("app")!;
if (location.hash === "#incoming") mount(Incoming, { target });
else mount(App, { target });
