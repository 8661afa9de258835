// The dashboard's files, embedded with C23's #embed when this file is compiled: no generated
// source, no build step, and clang's dependency file names each embedded file, so editing one
// rebuilds this. (SwiftPM's own `.embedInCode` writes a Swift array literal, which took 40 s of
// compiler time for dygraphs' 131 KB; this takes well under a second.)
#include "StepDashboardFiles.h"

static const unsigned char page_html[] = {
#embed "web/page.html"
};
static const unsigned char sessions_html[] = {
#embed "web/sessions.html"
};
static const unsigned char session_html[] = {
#embed "web/session.html"
};
static const unsigned char compare_html[] = {
#embed "web/compare.html"
};
static const unsigned char dashboard_css[] = {
#embed "web/dashboard.css"
};
static const unsigned char api_js[] = {
#embed "web/api.js"
};
static const unsigned char charts_js[] = {
#embed "web/charts.js"
};
static const unsigned char sessions_js[] = {
#embed "web/sessions.js"
};
static const unsigned char session_js[] = {
#embed "web/session.js"
};
static const unsigned char compare_js[] = {
#embed "web/compare.js"
};
static const unsigned char favicon_svg[] = {
#embed "web/favicon.svg"
};
static const unsigned char dygraph_js[] = {
#embed "web/vendor/dygraphs/dygraph.min.js"
};
static const unsigned char dygraph_css[] = {
#embed "web/vendor/dygraphs/dygraph.css"
};
static const unsigned char dygraph_license[] = {
#embed "web/vendor/dygraphs/LICENSE"
};

#define ENTRY(name, var) { name, var, sizeof(var) }
static const stepd_dashboard_file files[] = {
    ENTRY("page.html", page_html),
    ENTRY("sessions.html", sessions_html),
    ENTRY("session.html", session_html),
    ENTRY("compare.html", compare_html),
    ENTRY("dashboard.css", dashboard_css),
    ENTRY("api.js", api_js),
    ENTRY("charts.js", charts_js),
    ENTRY("sessions.js", sessions_js),
    ENTRY("session.js", session_js),
    ENTRY("compare.js", compare_js),
    ENTRY("favicon.svg", favicon_svg),
    ENTRY("vendor/dygraphs/dygraph.min.js", dygraph_js),
    ENTRY("vendor/dygraphs/dygraph.css", dygraph_css),
    ENTRY("vendor/dygraphs/LICENSE", dygraph_license),
};

const stepd_dashboard_file *stepd_dashboard_files(size_t *count) {
    *count = sizeof(files) / sizeof(files[0]);
    return files;
}
