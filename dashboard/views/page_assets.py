"""What the page's template carries to the browser: its CSS, the viewport, and three small scripts
(the sidebar folded on narrow screens, Bokeh's style reads remembered, presentation mode).

Everything here is served by this server itself, inline or as a data: URL: the page fetches nothing
from the internet, so it works on an offline classroom network.
"""

# Everything the page needs is served by this server: no web fonts, no CDN. The bootstrap
# template and Panel's default design load nothing from the internet (the "fast" and "material"
# designs fetch Google fonts, so they are not used).
CSS = """
body, .bk-root, :host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
  Helvetica, Arial, sans-serif; }
.help { font-size: 11.5px; color: #555; line-height: 1.25; }
.legend { font-size: 13px; padding: 2px 0 4px 0; }
.legend-item { margin-right: 14px; white-space: nowrap; }
table.metrics { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.metrics caption { caption-side: bottom; font-size: 11px; color: #666; text-align: left; padding-top: 4px; }
table.metrics th, table.metrics td { border-bottom: 1px solid #ddd; padding: 3px 5px; text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px; border-radius: 2px;
  vertical-align: middle; }
.bad { color: #b00020; font-weight: 600; }
.good { color: #1b7a2b; }
.table-scroll { overflow-x: auto; max-width: 100%; }
table.metrics small { color: #666; white-space: nowrap; }
table.metrics96 small { white-space: normal; }
@media (max-width: 560px) {
  table.metrics { font-size: 11px; }
  table.metrics th, table.metrics td { padding: 2px 2px; }
}
"""
# The template's own page (header, sidebar): a phone's header keeps its title on two lines.
PAGE_CSS = """
@media (max-width: 700px) {
  #header .title { font-size: 1.0rem; white-space: normal; }
  #header .app-header { max-width: 55vw; }
}
"""
# Phones and tablets: lay the page out at the device's width (not 980 px shrunk to 40%).
META_VIEWPORT = "width=device-width, initial-scale=1"
NARROW_PX = 900  # below this the sidebar starts collapsed (its toggle opens it over the page)
# Runs in the page's <head>, from a data: URL (nothing is fetched): on a narrow screen, start with
# the sidebar collapsed; the template's toggle button still opens it.
NARROW_JS = (
    "data:text/javascript,"
    "document.addEventListener('DOMContentLoaded',function(){"
    f"if(window.innerWidth<{NARROW_PX}){{var s=document.getElementById('sidebar');"
    "if(s){s.classList.remove('show');}"
    "var b=document.getElementById('sidebar-toggle');if(b){b.setAttribute('aria-expanded','false');}}});"
    "//"  # (Panel prefixes a js_files entry with its relative path unless it contains '//')
)
# Bokeh reads every axis', grid's, title's and annotation's colours, widths and fonts from the
# element's computed CSS (`getComputedStyle(el).getPropertyValue("--bk-...")`, to allow theming by CSS
# variables), and each plot's font size for every tick label (`getComputedStyle(plot).fontSize`), on
# every paint: ~1,750 + ~200 reads per redraw of the five Explore figures, each forcing the browser to
# bring that element's style up to date: ~60 ms of a ~90 ms repaint. This page sets no such variable
# and never changes its stylesheets or the plots' CSS font size after loading, so each (element,
# property) is read once and remembered (an element built later, e.g. in another tab, is read afresh).
# Feature-checked: with another Bokeh that lacks these, nothing changes.
CSS_VALUE_CACHE_JS = (
    "data:text/javascript,(function(){function patch(){var V,P;"
    "try{V=Bokeh.require('core/visuals/visual').VisualProperties;"
    "P=Bokeh.require('models/plots/plot_canvas').PlotView;}catch(e){return false;}"
    "var seen=new WeakMap();function remember(el,key,read){var values=seen.get(el);"
    "if(!values){values=new Map();seen.set(el,values);}var value=values.get(key);"
    "if(value===undefined){value=read();values.set(key,value);}return value;}"
    "var css=V&&V.prototype._get_css_value;if(css&&!css.remembers){"
    "var read=function(name){var self=this,el=this.obj&&this.obj.el;if(!el)return css.call(this,name);"
    "return remember(el,this.css_prefix+name,function(){return css.call(self,name);});};"
    "read.remembers=true;V.prototype._get_css_value=read;}"
    "var font=P&&Object.getOwnPropertyDescriptor(P.prototype,'base_font_size');"
    "if(font&&font.get&&!font.get.remembers){var get=function(){var self=this;"
    "return remember(this.el,' font-size',function(){return font.get.call(self);});};"
    "get.remembers=true;Object.defineProperty(P.prototype,'base_font_size',{get:get,configurable:true});}"
    "return true;}"
    "if(!(window.Bokeh&&patch())){document.addEventListener('DOMContentLoaded',patch);}})();"
    "//"  # (see NARROW_JS)
)
# Presentation mode (a projector): the sidebar folds away and the page fills the screen; the
# server enlarges the plots' text and lines. Runs in the browser on every toggle.
PRESENT_JS = """
const sidebar = document.getElementById("sidebar");
if (sidebar) { sidebar.classList.toggle("show", !cb_obj.active); }
try {
  if (cb_obj.active && !document.fullscreenElement && document.documentElement.requestFullscreen) {
    document.documentElement.requestFullscreen().catch(() => {});
  } else if (!cb_obj.active && document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
  }
} catch (e) {}
"""
