package web

func (s *Server) pages() {}
