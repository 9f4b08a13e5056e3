/**
 * Entry point of the viewer bundle: mounts the viewer on `#hub-viewer` (its data attributes
 * name the study and the endpoints; see hub/web/ui/templates/ui/viewer.html).
 */
import "./viewer.css";
import { Viewer, readConfig } from "./viewer.js";

function mount() {
  const root = document.getElementById("hub-viewer");
  if (!root) return;
  const viewer = new Viewer(root, readConfig(root));
  viewer.start();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();
