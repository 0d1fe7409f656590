// An empty program that a broker/ library is linked into whole, with only the
// libraries it declares (broker/CMakeLists.txt): an undefined symbol here is a
// call into a folder the library must not use.
int main() {
  return 0;
}
