# Every tool has a man page and bash/zsh/fish completions, and every long
# option its --help prints appears in all four; the bash completion, run,
# completes a number only to numbers and offers only options the tool has.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
S=$CLIPPO_SOURCE
tools=$(cd "$S/tools" && ls clippo-*.cpp | sed 's/\.cpp$//')
[ -n "$tools" ] || fail "no tools found"
for t in $tools; do
  exe="$CLIPPO_BUILD/tools/$t"
  [ -x "$exe" ] || { fail "$t is not built"; continue; }
  man="$S/man/man1/$t.1" bash_c="$S/completions/bash/$t" zsh_c="$S/completions/zsh/_$t" fish_c="$S/completions/fish/$t.fish"
  for f in "$man" "$bash_c" "$zsh_c" "$fish_c"; do [ -f "$f" ] || fail "$t: missing $f"; done
  [ -f "$man" ] && { man -l "$man" >/dev/null 2>"$T/man.err" || fail "$t: man page does not format"; }
  mantext=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man" 2>/dev/null)
  opts=$("$exe" --help | grep -oE '^ +(-[a-zA-Z] \[ )?(-[a-zA-Z], )?--[a-z0-9][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' | sort -u)
  [ -n "$opts" ] || fail "$t --help lists no options"
  for o in $opts; do
    name=${o#--}
    [ -f "$man" ] && { grep -qE -- "(^|[^a-z0-9-])--$name([^a-z0-9-]|$)" <<<"$mantext" || fail "$t: $o missing from the man page"; }
    [ -f "$bash_c" ] && { grep -qE -- "--$name([^a-z0-9-]|$)" "$bash_c" || fail "$t: $o missing from bash completion"; }
    [ -f "$zsh_c" ] && { grep -qE -- "--$name([^a-z0-9-]|$)" "$zsh_c" || fail "$t: $o missing from zsh completion"; }
    [ -f "$fish_c" ] && { grep -qE -- "-l $name([^a-z0-9-]|$)" "$fish_c" || fail "$t: $o missing from fish completion"; }
  done
  # bash completion, run: an option that takes a number completes to numbers
  # at most (not to another option's choices or to file names), and every
  # option it offers exists
  if [ -f "$bash_c" ]; then
    fn=$(grep -oE 'complete .*-F [a-z_]+' "$bash_c" | awk '{print $NF}')
    complete_words() { bash -c '. "$1"; shift; fn=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn"; printf "%s\n" "${COMPREPLY[@]}"' _ "$bash_c" "$fn" "$@"; }
    numeric=$("$exe" --help | grep -E '^ +(-[a-zA-Z] \[ )?(-[a-zA-Z], )?--[a-z0-9-]+( \])? (N|F|LR|WD|M|S|Q|V|PX) ' |
      sed -E 's/^ +(-[a-zA-Z] \[ )?(-[a-zA-Z], )?(--[a-z0-9-]+).*/\3/' | sort -u)
    [ -n "$numeric" ] || fail "$t --help has no numeric option (the completion check looks for none)"
    for o in $numeric; do
      got=$(complete_words "$t" "$o" "" | grep -vE '^([0-9.]+)?$' | head -3 | tr '\n' ' ')
      [ -z "$got" ] || fail "$t: bash completes '$o <TAB>' to: $got"
    done
    for o in $(complete_words "$t" "--" | grep -oE -- '^--[a-z0-9-]+$'); do
      grep -qx -- "$o" <<<"$opts" || fail "$t: bash completion offers $o, which --help does not list"
    done
  fi
  # and the other way round: the man page documents no option the tool lacks
  [ -f "$man" ] && for o in $(awk '/^\.TP/ { getline; print }' "$man" | sed 's/\\-/-/g' | grep -oE -- '--[a-z0-9-]+' | sort -u); do
    grep -qx -- "$o" <<<"$opts" || fail "$t: the man page documents $o, which --help does not list"
  done
done
# Every page formats without warnings, and every clippo page one names exists.
for page in "$S"/man/man*/*.[0-9]; do
  w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  [ -z "$w" ] || fail "$(basename "$page"): formatting warnings: $w"
  for ref in $(sed 's/\\-/-/g' "$page" | grep -oE 'clippo-[a-z]+ \([0-9]\)' | tr -d ' '); do
    name=${ref%(*} sec=${ref#*(}; sec=${sec%)}
    [ -f "$S/man/man$sec/$name.$sec" ] || fail "$(basename "$page") refers to $ref, which is no page in man/"
  done
done
[ -f "$S/man/man5/clippo-shard.5" ] || fail "no man page of the shard format"
done_testing
