"""Sphinx configuration of the genie_nb docs site (docs/build.py copies it into the assembled source tree)."""
project = 'genie_nb'
author = 'genie_nb developers'
copyright = '2026 onwards, genie_nb developers'
extensions = ['myst_nb']
html_theme = 'furo'
html_title = 'genie_nb'
html_static_path = ['_static']
exclude_patterns = ['_build', 'cache', '**.ipynb_checkpoints']
myst_enable_extensions = ['colon_fence', 'dollarmath']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'misc.highlighting_failure']
# docs/build.py has executed every notebook once (that run is also the notebooks' test): never execute again
nb_execution_mode = 'off'
nb_merge_streams = True
# the ipywidgets HTML manager from npm (docs/package.json), served by the site itself: no CDN, no require.js
nb_ipywidgets_js = {'html-manager/embed.js': {}}
